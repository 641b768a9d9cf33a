/**
 * The OpenAPI 3.1 document of the HTTP API (contract section 4). Request schemas are
 * generated from the same Effect schemas that validate requests, so they cannot drift.
 */
import { JSONSchema, type Schema } from "effect";
import { ActionRequest } from "../vocabulary/ActionRequest.ts";
import { DENY_REASONS } from "../vocabulary/DenyReason.ts";
import { EXECUTION_FAILURE_REASONS } from "../execution/events.ts";
import { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import { PermitRequest } from "../permits/issuePermit.ts";
import { Permit } from "../vocabulary/Permit.ts";

/**
 * The JSON Schema of a request schema for `components.schemas`: named sub-schemas (such as
 * `Int`) go into `definitions`, which the document merges into `components.schemas`, so
 * every `$ref` resolves inside the document (contract section 7).
 */
function jsonSchema(schema: Schema.Schema<any, any, never>, definitions: Record<string, JSONSchema.JsonSchema7>): JSONSchema.JsonSchema7 {
  return JSONSchema.fromAST(schema.ast, { definitions, definitionPath: "#/components/schemas/", target: "openApi3.1" });
}

const Hex64OrNull = { type: ["string", "null"], pattern: "^[0-9a-f]{64}$" };

const Execution = {
  type: ["object", "null"],
  description: "The run of an allowed decision's `execute` block; null when there is none or the decision is denied. Output is returned here only; events hold its sha256.",
  required: ["broker", "status", "exit_code", "stdout", "stderr", "stdout_sha256", "stderr_sha256", "truncated", "duration_ms"],
  properties: {
    broker: { enum: ["docker", "bwrap", "nono"] },
    status: { enum: ["completed", "failed", "timeout"] },
    exit_code: { type: ["integer", "null"] },
    stdout: { type: ["string", "null"], description: "null in GET /decisions/:id: the output is kept nowhere" },
    stderr: { type: ["string", "null"] },
    stdout_sha256: Hex64OrNull,
    stderr_sha256: Hex64OrNull,
    truncated: { type: "boolean" },
    duration_ms: { type: ["integer", "null"] },
    image_id: { type: "string", pattern: "^sha256:[0-9a-f]{64}$", description: "docker: the image that ran" },
    error: {
      type: "object",
      required: ["reason", "message"],
      properties: { reason: { enum: [...EXECUTION_FAILURE_REASONS] }, message: { type: "string" } },
      description: "present unless status is completed",
    },
  },
};

const DecisionResponse = {
  type: "object",
  required: ["decision_id", "status", "reason", "invariant_checks", "policy_id", "policy_hash", "permit_id", "intent_hash", "receipt_hash", "decided_at", "execution"],
  properties: {
    decision_id: { type: "string", pattern: "^dec_[0-9A-HJKMNP-TV-Z]{26}$" },
    status: { enum: ["allowed", "denied"] },
    reason: { enum: [...Object.keys(DENY_REASONS), null] },
    detail: { type: "string", description: "Why, for people. Not part of the receipt." },
    invariant_checks: { type: "array", items: { type: "object", required: ["name", "ok"], properties: { name: { type: "string" }, ok: { type: "boolean" } } } },
    policy_id: { type: "string" },
    policy_hash: { type: "string", pattern: "^[0-9a-f]{64}$" },
    permit_id: { type: ["string", "null"] },
    intent_hash: { type: ["string", "null"], pattern: "^[0-9a-f]{64}$" },
    receipt_hash: { type: "string", pattern: "^[0-9a-f]{64}$" },
    notional_usd: { type: ["string", "null"], description: "amount x price from the trusted snapshot, when max_notional ran" },
    decided_at: { type: "string", format: "date-time" },
    execution: Execution,
    errors: { type: "array", items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } } },
  },
};

const ErrorBody = { type: "object", required: ["error"], properties: { error: { type: "string" }, message: { type: "string" } } };

const json = (schema: unknown) => ({ content: { "application/json": { schema } } });

/**
 * An MCP streamable-HTTP endpoint (contract section 8): JSON-RPC messages in, JSON or an
 * SSE stream of JSON-RPC messages out; sessions by the Mcp-Session-Id header. Its
 * messages are MCP's, not this document's: docs/agents.md describes them.
 */
function mcpEndpoint(summary: string, security: ReadonlyArray<Record<string, ReadonlyArray<string>>>, parameters: ReadonlyArray<Record<string, unknown>>) {
  const session = { name: "mcp-session-id", in: "header", required: false, schema: { type: "string" } };
  const common = {
    "401": { description: "missing or unknown token (not recorded)" },
    "403": { description: "the operator token (MCP is for agents)" },
    "404": { description: "no such server, or no such session for this caller and endpoint" },
  };
  const description = "MCP streamable HTTP (protocol 2025-11-25 and earlier): every tools/call, resources/read and prompts/get is decided and recorded like POST /actions.";
  return {
    post: {
      summary,
      description,
      security,
      parameters: [...parameters, session],
      requestBody: { required: true, content: { "application/json": { schema: { type: ["object", "array"] } } } },
      responses: {
        "200": { description: "JSON-RPC answers, as an SSE stream (text/event-stream) or JSON" },
        "202": { description: "notifications or responses accepted" },
        "400": { description: "not JSON or not JSON-RPC (recorded as malformed_request), no session, or an unsupported protocol version" },
        "413": { description: "body over 1 MiB (recorded as malformed_request)" },
        "503": { description: "too many sessions, or the decision could not be recorded" },
        ...common,
      },
    },
    get: { summary: `${summary}: the session's SSE stream`, security, parameters: [...parameters, session], responses: { "200": { description: "text/event-stream" }, "400": { description: "no session" }, ...common } },
    delete: { summary: `${summary}: end the session`, security, parameters: [...parameters, session], responses: { "200": { description: "the session and its server sessions ended" }, "400": { description: "no session" }, ...common } },
  };
}

export function openApiDocument(version: string): Record<string, unknown> {
  const security = [{ bearer: [] }];
  const definitions: Record<string, JSONSchema.JsonSchema7> = {};
  const requestSchemas = {
    ActionRequest: jsonSchema(ActionRequest, definitions),
    PermitRequest: jsonSchema(PermitRequest, definitions),
    Permit: jsonSchema(Permit, definitions),
    MarketSnapshot: jsonSchema(MarketSnapshot, definitions),
  };
  return {
    openapi: "3.1.0",
    info: { title: "ZT-Infra control plane", version, description: "Deterministic, fail-closed decisions for AI-agent actions." },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        ...definitions,
        ...requestSchemas,
        Decision: DecisionResponse,
        Error: ErrorBody,
      },
    },
    paths: {
      "/actions": {
        post: {
          summary: "Ask before acting: decide, record, answer",
          security,
          requestBody: json({ $ref: "#/components/schemas/ActionRequest" }),
          responses: {
            "200": { description: "allowed", ...json({ $ref: "#/components/schemas/Decision" }) },
            "400": { description: "malformed_request (recorded)", ...json({ $ref: "#/components/schemas/Decision" }) },
            "401": { description: "missing or unknown token (not recorded)", ...json({ $ref: "#/components/schemas/Error" }) },
            "403": { description: "denied (recorded)", ...json({ $ref: "#/components/schemas/Decision" }) },
            "413": { description: "body over 64 KiB: malformed_request (recorded)", ...json({ $ref: "#/components/schemas/Decision" }) },
            "503": { description: "audit_unavailable or policy_unavailable: fail closed", ...json({ $ref: "#/components/schemas/Decision" }) },
          },
        },
      },
      "/decisions/{id}": {
        get: {
          summary: "A recorded decision (agents: their own only)",
          security,
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "the decision", ...json({ $ref: "#/components/schemas/Decision" }) }, "404": { description: "not found or not visible" } },
        },
      },
      "/permits": {
        post: {
          summary: "Issue a signed single-use permit (operator)",
          security,
          requestBody: json({ $ref: "#/components/schemas/PermitRequest" }),
          responses: {
            "201": { description: "the permit", ...json({ $ref: "#/components/schemas/Permit" }) },
            "400": { description: "unknown_scope, unknown_constraint, permit_ttl_too_long or malformed_request", ...json({ $ref: "#/components/schemas/Error" }) },
            "403": { description: "not the operator" },
          },
        },
      },
      "/market/snapshot": {
        put: {
          summary: "Replace the trusted market snapshot (operator)",
          security,
          requestBody: json({ $ref: "#/components/schemas/MarketSnapshot" }),
          responses: { "200": { description: "recorded" }, "400": { description: "malformed" }, "403": { description: "not the operator" } },
        },
      },
      "/audit/head": {
        get: {
          summary: "Latest audit record: seq, hash, signature (operator)",
          security,
          responses: { "200": { description: "the head" }, "403": { description: "not the operator" }, "503": { description: "audit_unavailable" } },
        },
      },
      "/audit/records": {
        get: {
          summary: "Audit records in order (operator)",
          security,
          parameters: [
            { name: "after", in: "query", required: false, schema: { type: "integer", minimum: 0 } },
            { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 1000 } },
          ],
          responses: { "200": { description: "records" }, "400": { description: "bad after or limit" }, "403": { description: "not the operator" } },
        },
      },
      "/audit/batches": {
        get: {
          summary: "Sealed checkpoints with tree size, root and anchor status (operator)",
          security,
          responses: { "200": { description: "batches" }, "403": { description: "not the operator" } },
        },
      },
      "/audit/consistency": {
        get: {
          summary: "RFC 9162 consistency proof between two tree sizes (operator)",
          security,
          parameters: [
            { name: "from", in: "query", required: true, schema: { type: "integer", minimum: 0 } },
            { name: "to", in: "query", required: true, schema: { type: "integer", minimum: 0 } },
          ],
          responses: { "200": { description: "the proof" }, "400": { description: "bad or unprovable sizes" }, "403": { description: "not the operator" } },
        },
      },
      "/audit/proofs/{decision_id}": {
        get: {
          summary: "Inclusion proof of a decision (agents: their own only)",
          security,
          parameters: [{ name: "decision_id", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "200": { description: "the inclusion proof" },
            "404": { description: "not found or not visible" },
            "409": { description: "not_yet_sealed: no checkpoint covers the decision yet" },
          },
        },
      },
      "/keys": { get: { summary: "Public keys: permit issuers and the audit key", responses: { "200": { description: "keys" } } } },
      "/healthz": { get: { summary: "Liveness", responses: { "200": { description: "alive" } } } },
      "/readyz": { get: { summary: "Store reachable and policy loaded", responses: { "200": { description: "ready" }, "503": { description: "not ready" } } } },
      "/metrics": { get: { summary: "Prometheus metrics (operator)", security, responses: { "200": { description: "text/plain; version=0.0.4" } } } },
      "/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } } },
      "/mcp": mcpEndpoint("The MCP gateway over every server of the bundle's mcp.json; tool and prompt names prefixed <server_id>__", security, []),
      "/mcp/{server_id}": mcpEndpoint("The MCP gateway in front of one server, with its own names", security, [
        { name: "server_id", in: "path", required: true, schema: { type: "string", pattern: "^[a-z0-9][a-z0-9-]*$" } },
      ]),
    },
  };
}
