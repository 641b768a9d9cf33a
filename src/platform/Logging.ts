/**
 * Structured logs: one JSON object per line on stdout, for HTTP access logs and Effect
 * logs alike. Callers pass named fields; nothing here ever receives a token, a key, a
 * permit signature or a request body.
 */
import { HashMap, Layer, List, Logger, LogLevel } from "effect";

export type LogLevelName = "debug" | "info" | "warn" | "error" | "none";

const RANK: Record<LogLevelName, number> = { debug: 10, info: 20, warn: 30, error: 40, none: 100 };

export interface LogSink {
  readonly write: (level: Exclude<LogLevelName, "none">, message: string, fields: Record<string, unknown>) => void;
}

export function makeLogSink(minimum: LogLevelName, out: (line: string) => void = (line) => console.log(line)): LogSink {
  return {
    write: (level, message, fields) => {
      if (RANK[level] < RANK[minimum]) return;
      out(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
    },
  };
}

function levelName(level: LogLevel.LogLevel): Exclude<LogLevelName, "none"> {
  if (LogLevel.greaterThanEqual(level, LogLevel.Error)) return "error";
  if (LogLevel.greaterThanEqual(level, LogLevel.Warning)) return "warn";
  if (LogLevel.greaterThanEqual(level, LogLevel.Info)) return "info";
  return "debug";
}

/** Replaces Effect's default logger with the JSON sink; annotations become fields. */
export function effectLoggerLayer(sink: LogSink): Layer.Layer<never> {
  const logger = Logger.make(({ logLevel, message, annotations, cause }) => {
    const fields: Record<string, unknown> = Object.fromEntries(HashMap.toEntries(annotations));
    const text = List.isList(message) ? List.toArray(message).join(" ") : Array.isArray(message) ? message.join(" ") : String(message);
    if (cause._tag !== "Empty") fields["cause"] = cause._tag;
    sink.write(levelName(logLevel), text, fields);
  });
  return Logger.replace(Logger.defaultLogger, logger);
}
