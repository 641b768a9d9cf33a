/**
 * The event validation every EventStore adapter applies before any I/O, so each refuses
 * the same batches with `invalid_event`: a non-empty stream name, at least one event,
 * non-empty ids distinct within the batch, a non-empty type, and data and metadata that
 * are plain JSON objects (no undefined, NaN, Infinity, bigint, Date, cycle or lone
 * surrogate), nested at most MAX_EVENT_JSON_DEPTH deep. Event data is attacker-influenced:
 * messages name the event by its index and the problem, never a key or a value.
 *
 * The depth bound is what makes hashing a stored event total for every event this
 * service writes: the audit chain hashes each event as one JSON object one level above
 * its data (AuditRecord.eventHash), and the JCS kernel refuses nesting over
 * JCS_MAX_DEPTH. A request body bounded by the strict reader (MAX_BODY_DEPTH) stays well
 * inside this bound however an event wraps it.
 */
import { EventStoreError, type JsonObject, type NewEvent } from "./EventStore.ts";

/** One validated event, its data and metadata as the JSON text the store keeps. */
export interface EncodedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
}

const LONE_SURROGATE = /\p{Cs}/u;

/** Containers nested deeper than this in an event's data or metadata are refused (the root object is depth 1). */
export const MAX_EVENT_JSON_DEPTH = 48;

/** Names the first thing in `value` that JSON would not carry unchanged, or nesting over the bound; no key or value is echoed. */
function jsonProblem(value: unknown, ancestors: Set<object>, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      return LONE_SURROGATE.test(value) ? "a string with a lone surrogate" : undefined;
    case "number":
      return Number.isFinite(value) ? undefined : "a non-finite number (NaN or Infinity)";
    case "boolean":
      return undefined;
    case "object":
      break;
    default:
      return `a value of type ${typeof value}`;
  }
  if (value === null) return undefined;
  if (depth > MAX_EVENT_JSON_DEPTH) return `nesting deeper than ${MAX_EVENT_JSON_DEPTH}`;
  if (ancestors.has(value)) return "a cycle";
  ancestors.add(value);
  const problem = Array.isArray(value) ? arrayProblem(value, ancestors, depth) : objectProblem(value, ancestors, depth);
  ancestors.delete(value);
  return problem;
}

function arrayProblem(value: ReadonlyArray<unknown>, ancestors: Set<object>, depth: number): string | undefined {
  if (Object.keys(value).length !== value.length) return "a sparse array or an array with extra properties";
  for (const item of value) {
    const problem = jsonProblem(item, ancestors, depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function objectProblem(value: object, ancestors: Set<object>, depth: number): string | undefined {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return "an object that is not a plain object";
  if (Object.getOwnPropertySymbols(value).length > 0) return "a symbol key";
  for (const [key, item] of Object.entries(value)) {
    if (LONE_SURROGATE.test(key)) return "a key with a lone surrogate";
    const problem = jsonProblem(item, ancestors, depth + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** True for `{...}` and `Object.create(null)`; false for arrays, class instances and null. */
export function isPlainObject(value: unknown): value is object {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Checks the field is a JSON object and returns its JSON text, or why it is not. */
function encodeJsonObject(value: unknown): { readonly json: string } | { readonly problem: string } {
  if (!isPlainObject(value)) return { problem: "is not a JSON object" };
  const problem = jsonProblem(value, new Set(), 1);
  return problem === undefined ? { json: JSON.stringify(value) } : { problem: `contains ${problem}` };
}

function invalid(stream: string, message: string): EventStoreError {
  return new EventStoreError({ reason: "invalid_event", message, stream });
}

/** Validates a batch before any I/O; messages name the event by index, never its content. */
export function encodeEventBatch(stream: string, events: ReadonlyArray<NewEvent>): ReadonlyArray<EncodedEvent> | EventStoreError {
  if (typeof stream !== "string" || stream.length === 0) return invalid(stream, "the stream name must be a non-empty string");
  if (!Array.isArray(events) || events.length === 0) return invalid(stream, "an append needs at least one event");
  const encoded: Array<EncodedEvent> = [];
  const ids = new Set<string>();
  for (const [index, event] of events.entries()) {
    const at = `event ${index + 1} of ${events.length}`;
    if (typeof event !== "object" || event === null) return invalid(stream, `${at} is not an object`);
    if (typeof event.id !== "string" || event.id.length === 0) return invalid(stream, `${at}: id must be a non-empty string`);
    if (ids.has(event.id)) return invalid(stream, `${at}: id repeats an earlier event of the batch`);
    ids.add(event.id);
    if (typeof event.type !== "string" || event.type.length === 0) return invalid(stream, `${at}: type must be a non-empty string`);
    const data = encodeJsonObject(event.data);
    if ("problem" in data) return invalid(stream, `${at}: data ${data.problem}`);
    const metadata = event.metadata === undefined ? { json: "{}" } : encodeJsonObject(event.metadata);
    if ("problem" in metadata) return invalid(stream, `${at}: metadata ${metadata.problem}`);
    encoded.push({ id: event.id, type: event.type, data: data.json, metadata: metadata.json });
  }
  return encoded;
}

/** Parses stored JSON text that must be an object; undefined when it is not. */
export function decodeJsonObject(text: string): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? (value as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}
