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

/** The console's decision filters (an agent's actor filter can only name itself). */
const CONSOLE_FILTERS = [
  { name: "actor", in: "query", required: false, schema: { type: "string", maxLength: 200 } },
  { name: "action", in: "query", required: false, schema: { type: "string", maxLength: 200 } },
  { name: "status", in: "query", required: false, schema: { enum: ["allowed", "denied", "pending_approval"] } },
  { name: "reason", in: "query", required: false, schema: { enum: Object.keys(DENY_REASONS) } },
] as const;

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
      "/console": {
        get: {
          summary: "The console: a web page for operators and agents (public; sign-in happens in the page, its modules are under /console/assets/)",
          responses: { "200": { description: "text/html", content: { "text/html": { schema: { type: "string" } } } }, "503": { description: "console_unavailable: this runtime cannot serve its code" } },
        },
      },
      "/console/api/session": {
        get: {
          summary: "Who the bearer token is: {role, actor}",
          security,
          responses: { "200": { description: "the principal" }, "401": { description: "missing or unknown token" } },
        },
      },
      "/console/api/decisions/stream": {
        get: {
          summary: "Live decisions as server-sent events (`decisions` batches, `gap`), filtered; an agent sees its own only",
          security,
          parameters: [
            ...CONSOLE_FILTERS,
            { name: "backfill", in: "query", required: false, schema: { type: "integer", minimum: 0, maximum: 1000, default: 200 } },
            { name: "after", in: "query", required: false, schema: { type: "integer", minimum: 0 }, description: "resume after this store position (or Last-Event-ID)" },
          ],
          responses: {
            "200": { description: "text/event-stream", content: { "text/event-stream": { schema: { type: "string" } } } },
            "400": { description: "invalid_parameter" },
            "403": { description: "an agent naming another actor" },
            "429": { description: "too_many_streams" },
          },
        },
      },
      "/console/api/denials": {
        get: {
          summary: "Decisions and denials by reason per minute (an agent: its own)",
          security,
          parameters: [CONSOLE_FILTERS[0]!, { name: "minutes", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 1440, default: 60 } }],
          responses: { "200": { description: "{actor, bucket_seconds, from, to, reasons, buckets: [{start, decisions, denied}]}" }, "400": { description: "invalid_parameter" }, "403": { description: "an agent naming another actor" } },
        },
      },
      "/console/api/evidence/{decision_id}": {
        get: {
          summary: "A decision's stored event (hashed form), its audit record and inclusion proof, to verify in the browser (agents: their own only)",
          security,
          parameters: [{ name: "decision_id", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "{decision_id, event, record, proof}" }, "404": { description: "not found or not visible" }, "409": { description: "not_yet_sealed" } },
        },
      },
      "/console/api/anchors/{batch_id}": {
        get: {
          summary: "A sealed checkpoint's anchor and its recorded anchoring events (operator)",
          security,
          parameters: [{ name: "batch_id", in: "path", required: true, schema: { type: "string", pattern: "^batch-[1-9][0-9]*$" } }],
          responses: { "200": { description: "{batch_id, tree_size, root, sealed_at, anchor, events}" }, "400": { description: "invalid_parameter" }, "403": { description: "not the operator" }, "404": { description: "no such sealed checkpoint" } },
        },
      },
      "/keys": { get: { summary: "Public keys: permit issuers and the audit key", responses: { "200": { description: "keys" } } } },
      "/healthz": { get: { summary: "Liveness", responses: { "200": { description: "alive" } } } },
      "/readyz": { get: { summary: "Store reachable and policy loaded", responses: { "200": { description: "ready" }, "503": { description: "not ready" } } } },
      "/metrics": { get: { summary: "Prometheus metrics (operator)", security, responses: { "200": { description: "text/plain; version=0.0.4" } } } },
      "/openapi.json": { get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } } },
    },
  };
}
