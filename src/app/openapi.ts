/**
 * The OpenAPI 3.1 document of the HTTP API (contract section 4). Request schemas are
 * generated from the same Effect schemas that validate requests, so they cannot drift.
 */
import { JSONSchema, type Schema } from "effect";
import { ActionRequest } from "../vocabulary/ActionRequest.ts";
import { APPROVAL_STATUSES } from "../approvals/Approval.ts";
import { APPROVAL_REQUIRED, DENY_REASONS } from "../vocabulary/DenyReason.ts";
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
    status: { enum: ["allowed", "denied", "pending_approval"] },
    reason: { enum: [...Object.keys(DENY_REASONS), APPROVAL_REQUIRED.reason, null] },
    detail: { type: "string", description: "Why, for people. Not part of the receipt." },
    invariant_checks: { type: "array", items: { type: "object", required: ["name", "ok"], properties: { name: { type: "string" }, ok: { type: "boolean" } } } },
    policy_id: { type: "string" },
    policy_hash: { type: "string", pattern: "^[0-9a-f]{64}$" },
    permit_id: { type: ["string", "null"] },
    intent_hash: { type: ["string", "null"], pattern: "^[0-9a-f]{64}$" },
    receipt_hash: { type: "string", pattern: "^[0-9a-f]{64}$" },
    notional_usd: { type: ["string", "null"], description: "amount x price from the trusted snapshot, when max_notional or an approval rule's threshold priced it" },
    approval_id: { type: ["string", "null"], pattern: "^apr_[0-9A-HJKMNP-TV-Z]{26}$", description: "the approval the decision waits on, used, or was refused over" },
    decided_at: { type: "string", format: "date-time" },
    traceparent: { type: "string", description: "GET /decisions/{id}: the caller's W3C traceparent, when it sent one that parses" },
    execution: Execution,
    errors: { type: "array", items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } } },
  },
};

const PendingApproval = {
  allOf: [
    { $ref: "#/components/schemas/Decision" },
    {
      type: "object",
      required: ["approval_id", "request_digest", "expires_at"],
      description: "202: every check passed and an approval rule matched; repeat the identical request with approval_id once operators grant it",
      properties: {
        request_digest: { type: "string", pattern: "^[0-9a-f]{64}$", description: "sha256 of the JCS of {actor, action, resource, context, intent, execute}" },
        expires_at: { type: "string", format: "date-time" },
        quorum: { type: "integer", minimum: 1 },
        granted_by: { type: "array", items: { type: "string" } },
      },
    },
  ],
};

const Approval = {
  type: "object",
  required: ["approval_id", "status", "decision_id", "request_digest", "actor", "action", "resource", "quorum", "granted_by", "requested_at", "expires_at"],
  properties: {
    approval_id: { type: "string", pattern: "^apr_[0-9A-HJKMNP-TV-Z]{26}$" },
    status: { enum: [...APPROVAL_STATUSES] },
    decision_id: { type: "string", description: "the pending decision that asked for it" },
    request_digest: { type: "string", pattern: "^[0-9a-f]{64}$" },
    actor: { type: "string" },
    action: { type: "string" },
    resource: { type: "string" },
    request: { type: "object", description: "GET /approvals/{id} and votes: the call as sent (actor, action, resource, context, intent, execute)" },
    notional_usd: { type: ["string", "null"] },
    rule_id: { type: "string" },
    quorum: { type: "integer", minimum: 1 },
    granted_by: { type: "array", items: { type: "string" } },
    grants: { type: "array", items: { type: "object", properties: { operator: { type: "string" }, note: { type: ["string", "null"] }, granted_at: { type: "string" } } } },
    rejection: { type: ["object", "null"], properties: { operator: { type: "string" }, note: { type: ["string", "null"] }, rejected_at: { type: "string" } } },
    requested_at: { type: "string", format: "date-time" },
    expires_at: { type: "string", format: "date-time" },
    expired_at: { type: ["string", "null"] },
    consumed_by: { type: ["string", "null"], description: "the allowed decision that used it" },
    consumed_at: { type: ["string", "null"] },
    policy_id: { type: "string" },
  },
};

const Vote = {
  type: "object",
  additionalProperties: false,
  properties: { note: { type: "string", maxLength: 1024 } },
  description: "The approver is the authenticated operator, never a field of the body; an empty body is no note.",
};

const PolicyReload = {
  type: "object",
  required: ["status", "policy_id", "policy_hash", "previous_policy_hash", "candidate_policy_hash", "activated_at"],
  properties: {
    status: { enum: ["activated", "unchanged"] },
    policy_id: { type: "string" },
    policy_hash: { type: "string", pattern: "^[0-9a-f]{64}$" },
    previous_policy_hash: { type: "string", pattern: "^[0-9a-f]{64}$" },
    candidate_policy_hash: { type: ["string", "null"], pattern: "^[0-9a-f]{64}$" },
    activated_at: { type: ["string", "null"], format: "date-time" },
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
/** An operator's vote on an approval (`POST /approvals/:id/approve|reject`); `conflicts` names its 409 reasons. */
function vote(summary: string, conflicts: string) {
  return {
    summary,
    security: [{ bearer: [] }],
    parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
    requestBody: { required: false, ...json({ $ref: "#/components/schemas/Vote" }) },
    responses: {
      "200": { description: "recorded; the approval as it now is", ...json({ $ref: "#/components/schemas/Approval" }) },
      "403": { description: "not an operator" },
      "404": { description: "no such approval" },
      "409": { description: conflicts },
    },
  };
}

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
        PendingApproval,
        Approval,
        Vote,
        PolicyReload,
        Error: ErrorBody,
      },
    },
    paths: {
      "/actions": {
        post: {
          summary: "Ask before acting: decide, record, answer",
          security,
          parameters: [
            {
              name: "traceparent",
              in: "header",
              required: false,
              schema: { type: "string" },
              description: "W3C Trace Context: recorded with the decision, the parent of its spans, and passed to the command it runs (TRACEPARENT); one that does not parse is ignored",
            },
          ],
          requestBody: json({ $ref: "#/components/schemas/ActionRequest" }),
          responses: {
            "200": { description: "allowed", ...json({ $ref: "#/components/schemas/Decision" }) },
            "202": { description: "pending_approval (recorded): waits for operators", ...json({ $ref: "#/components/schemas/PendingApproval" }) },
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
      "/approvals": {
        get: {
          summary: "Approvals, newest first (operators: all; an agent: those of its own requests)",
          security,
          parameters: [
            { name: "status", in: "query", required: false, schema: { enum: [...APPROVAL_STATUSES] } },
            { name: "limit", in: "query", required: false, schema: { type: "integer", minimum: 1, maximum: 1000 } },
          ],
          responses: {
            "200": { description: "approvals", ...json({ type: "object", required: ["approvals"], properties: { approvals: { type: "array", items: { $ref: "#/components/schemas/Approval" } } } }) },
            "400": { description: "bad status or limit" },
          },
        },
      },
      "/approvals/{id}": {
        get: {
          summary: "One approval with the call it is for (operators; an agent: its own)",
          security,
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "the approval", ...json({ $ref: "#/components/schemas/Approval" }) }, "404": { description: "not found or not visible" } },
        },
      },
      "/approvals/{id}/approve": { post: vote("Grant an approval as the authenticated operator", "approval_closed, approval_already_granted or approval_duplicate_grant") },
      "/approvals/{id}/reject": { post: vote("Reject an approval (pending, or granted and unused) as the authenticated operator", "approval_closed") },
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
      "/policy/reload": {
        post: {
          summary: "Validate and put in force the policy bundle on disk (and the candidate's), as SIGHUP does",
          security,
          responses: {
            "200": { description: "activated, or unchanged", ...json({ $ref: "#/components/schemas/PolicyReload" }) },
            "403": { description: "not an operator" },
            "422": { description: "policy_invalid: a bundle does not load; `problems` names each file and line; the bundles in force stay" },
            "503": { description: "audit_unavailable: the activation cannot be recorded; nothing changes" },
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
