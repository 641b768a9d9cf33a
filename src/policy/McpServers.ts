/**
 * `mcp.json` of a policy bundle (contract section 8): the upstream MCP servers the
 * gateway fronts, by server id. A stdio server is a command the control plane starts
 * inside a sandbox broker (bwrap by default) with its own writable directory; an http
 * server is a remote streamable-HTTP endpoint. The file is part of the bundle, so it is
 * in `policy_hash`, and a file that does not validate stops the service from starting.
 */
import { Schema } from "effect";
import { ImageEntry } from "./PolicyManifest.ts";

export const MCP_SERVERS_FILE = "mcp.json";

/** `server_id` (contract section 8): also the `<server_id>__` prefix on `/mcp`, which the pattern keeps unambiguous (no `_`). */
export const SERVER_ID = /^[a-z0-9][a-z0-9-]*$/;
const ServerId = Schema.String.pipe(Schema.maxLength(64), Schema.pattern(SERVER_ID, { message: () => "must match [a-z0-9][a-z0-9-]* (at most 64 characters)" }));

const Text = Schema.String.pipe(Schema.maxLength(4096));
const EnvName = Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { message: () => "must be an environment variable name" }));
const HeaderName = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, { message: () => "must be an HTTP header name" }));
const ArgumentName = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128));

/** How long a forwarded request may wait for its upstream's answer (progress does not extend it). */
const TimeoutMs = Schema.Int.pipe(Schema.between(1_000, 3_600_000));
export const DEFAULT_MCP_TIMEOUT_MS = 600_000;

/**
 * Limits of a stdio server's process, with defaults (MCP_DEFAULT_LIMITS): memory is the
 * address space under bwrap (RLIMIT_AS, which V8 needs several GiB of) and the memory
 * cgroup under Docker; CPU is a share of cores (bwrap: CPU seconds over a day).
 */
export const McpLimits = Schema.Struct({
  memory_mb: Schema.optional(Schema.Int.pipe(Schema.between(64, 65_536))),
  cpus: Schema.optional(Schema.Number.pipe(Schema.between(0.01, 64))),
  pids: Schema.optional(Schema.Int.pipe(Schema.between(1, 32_768))),
});
export const MCP_DEFAULT_LIMITS = { memory_mb: 4096, cpus: 1, pids: 64 } as const;

export const StdioServer = Schema.Struct({
  transport: Schema.Literal("stdio"),
  /** An executable on the control plane's PATH, or a path (relative to the control plane's working directory). */
  command: Text.pipe(Schema.minLength(1)),
  args: Schema.optionalWith(Schema.Array(Text).pipe(Schema.maxItems(128)), { default: () => [] }),
  /** The server's whole environment besides PATH and HOME (values are never logged). */
  env: Schema.optionalWith(Schema.Record({ key: EnvName, value: Text }), { default: () => ({}) }),
  sandbox: Schema.optionalWith(Schema.Literal("bwrap", "docker", "none"), { default: () => "bwrap" as const }),
  /** Docker only: the image the command runs in. */
  image: Schema.optional(ImageEntry),
  /** Whether the sandbox shares the host's network; default false. */
  network: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** Host paths bound read-only at the same place (the server's code); relative to the control plane's working directory. */
  read: Schema.optionalWith(Schema.Array(Text.pipe(Schema.minLength(1))).pipe(Schema.maxItems(32)), { default: () => [] }),
  limits: Schema.optionalWith(McpLimits, { default: () => ({}) }),
  /** Arguments holding filesystem paths in the server's directory: resolved for Cedar as `context.within` (see mcpCall.ts). */
  path_arguments: Schema.optionalWith(Schema.Array(ArgumentName).pipe(Schema.maxItems(32)), { default: () => [] }),
  timeout_ms: Schema.optionalWith(TimeoutMs, { default: () => DEFAULT_MCP_TIMEOUT_MS }),
}).pipe(
  Schema.filter((server) => {
    if (server.sandbox === "docker" && server.image === undefined) return { path: ["image"], message: "a docker sandbox needs the image to run in" };
    if (server.sandbox !== "docker" && server.image !== undefined) return { path: ["image"], message: "only a docker sandbox runs an image" };
    return true;
  }),
);
export type StdioServer = typeof StdioServer.Type;

const HttpUrl = Text.pipe(
  Schema.filter((text) => {
    try {
      const url = new URL(text);
      return (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "";
    } catch {
      return false;
    }
  }, { message: () => "must be an http(s) URL without credentials (put them in headers)" }),
);

export const HttpServer = Schema.Struct({
  transport: Schema.Literal("http"),
  url: HttpUrl,
  /** Sent on every request to the upstream (its credentials; values are never logged). */
  headers: Schema.optionalWith(Schema.Record({ key: HeaderName, value: Text }), { default: () => ({}) }),
  timeout_ms: Schema.optionalWith(TimeoutMs, { default: () => DEFAULT_MCP_TIMEOUT_MS }),
});
export type HttpServer = typeof HttpServer.Type;

export const McpServerConfig = Schema.Union(StdioServer, HttpServer);
export type McpServerConfig = typeof McpServerConfig.Type;

export const McpServers = Schema.Struct({
  servers: Schema.Record({ key: ServerId, value: McpServerConfig }),
});
export type McpServers = typeof McpServers.Type;

/** A bundle without mcp.json fronts no MCP server. */
export const NO_MCP_SERVERS: McpServers = { servers: {} };
