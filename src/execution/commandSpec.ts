/**
 * The CommandSpec of an allowed `execute` block: the request's argv, timeout and network
 * wish within the policy rule that allowed it, the rule's limits (or this build's
 * defaults), and the fixed command environment, with the caller's W3C trace context as
 * `TRACEPARENT` (the OpenTelemetry convention for a process's environment) when there is
 * one. Pure.
 */
import type { ExecuteSpec } from "../vocabulary/ActionRequest.ts";
import { allowedImage, DEFAULT_TIMEOUT_MS } from "../policy/brokerChecks.ts";
import type { BrokerRule } from "../policy/PolicyManifest.ts";
import type { CommandSpec } from "./Broker.ts";

/** The whole environment a command sees. */
export const COMMAND_ENV: Readonly<Record<string, string>> = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", LANG: "C.UTF-8" };

/** Limits of a rule that sets none. */
export const DEFAULT_LIMITS = { memory_mb: 256, cpus: 1, pids: 64, output_bytes: 64 * 1024 } as const;

export function commandSpec(decisionId: string, execute: ExecuteSpec, rule: BrokerRule, traceparent?: string): CommandSpec {
  const limits = rule.limits ?? {};
  const image = execute.broker === "docker" ? allowedImage(rule, execute.image) : undefined;
  return {
    decisionId,
    ...(image === undefined ? {} : { image }),
    argv: execute.command,
    env: traceparent === undefined ? COMMAND_ENV : { ...COMMAND_ENV, TRACEPARENT: traceparent },
    readPaths: [],
    writePaths: [],
    network: execute.network === true && rule.network === true,
    cpus: limits.cpus ?? DEFAULT_LIMITS.cpus,
    memoryBytes: (limits.memory_mb ?? DEFAULT_LIMITS.memory_mb) * 1024 * 1024,
    pids: limits.pids ?? DEFAULT_LIMITS.pids,
    timeoutMs: execute.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    outputCapBytes: limits.output_bytes ?? DEFAULT_LIMITS.output_bytes,
  };
}
