/**
 * The console (contract section 10), served by the control plane itself:
 *
 *   GET /console                          the page (public: it holds no data; sign-in is in the page)
 *   GET /console/assets/...               its CSS and ES modules (public), see browserModules.ts
 *   GET /console/api/session              who the bearer token is
 *   GET /console/api/decisions/stream     the live decision stream (server-sent events), filtered
 *   GET /console/api/denials              decisions and denials per minute, by reason
 *   GET /console/api/evidence/:id         a decision's event, audit record and inclusion proof
 *   GET /console/api/anchors/:batch_id    a checkpoint's anchoring events (operator)
 *
 * An agent sees its own decisions only, here on the server: its stream and chart are
 * filtered to its actor, and another agent's decision reads as not found. Every bad
 * input is a problem+json answer from the one problem table.
 */
import { Effect, Either } from "effect";
import { Hono, type Context } from "hono";
import { anchorStream } from "../anchoring/core/events.ts";
import { AuditLog } from "../audit/AuditLog.ts";
import { hashedEventFields } from "../audit/AuditRecord.ts";
import { AuditTrail } from "../audit/AuditTrail.ts";
import { BatchAnchors } from "../audit/BatchAnchors.ts";
import { inclusionProofFor } from "../audit/proofs.ts";
import { EventStore } from "../events/EventStore.ts";
import { requireOperator, type AppEnv } from "../http/auth.ts";
import { problem } from "../http/problem.ts";
import type { RunEffect } from "../http/RunEffect.ts";
import { encodeBase64 } from "../kernel/base64.ts";
import { sha256 } from "../kernel/hashing.ts";
import { DECISION_ID } from "../vocabulary/DecisionId.ts";
import { ASSET_PREFIX, consolePageTemplate, loadBrowserModules, type BrowserModules } from "./browserModules.ts";
import { DecisionFeed } from "./DecisionFeed.ts";
import { DENIAL_WINDOW_MINUTES } from "./DenialCounts.ts";
import { streamDecisions } from "./decisionStream.ts";
import { parseDecisionFilter, type DecisionFilter } from "./decisionSummary.ts";

/** Open streams at once, in all and per principal (an operator, or one agent). */
export const MAX_STREAMS = 64;
export const MAX_STREAMS_PER_PRINCIPAL = 8;
/** Bytes a stream may hold for a client that does not read, before it skips decisions. */
const STREAM_BUFFER_BYTES = 1 << 20;
const DEFAULT_BACKFILL = 200;
const MAX_BACKFILL = 1000;
const BATCH_ID = /^batch-[1-9][0-9]{0,12}$/;
const POSITION = /^(?:0|[1-9][0-9]{0,14})$/;

const SECURITY_HEADERS = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" } as const;

type ConsoleServices = DecisionFeed | EventStore | AuditLog | AuditTrail | BatchAnchors;

/** A query with no parameters but `allowed`, each at most once; else the problem to answer. */
function queryProblem(c: Context<AppEnv>, allowed: ReadonlyArray<string>): Response | undefined {
  for (const [name, values] of Object.entries(c.req.queries())) {
    if (!allowed.includes(name)) return problem(c, "invalid_parameter", allowed.length === 0 ? "this endpoint takes no query parameters" : `unknown query parameter (expected ${allowed.join(", ")})`);
    if (values.length !== 1) return problem(c, "invalid_parameter", `${name} may be given once`);
  }
  return undefined;
}

function integerParameter(text: string | undefined, min: number, max: number, fallback: number): number | undefined {
  if (text === undefined) return fallback;
  if (!POSITION.test(text)) return undefined;
  const value = Number(text);
  return value >= min && value <= max ? value : undefined;
}

export function consoleRoutes(run: RunEffect<ConsoleServices>) {
  const app = new Hono<AppEnv>();

  // Built on first use, not at startup: a control plane nobody looks at pays nothing.
  let modules: { ok: true; value: BrowserModules & { page: string; csp: string } } | { ok: false; detail: string } | undefined;
  const browserCode = () => {
    if (modules !== undefined) return modules;
    try {
      const loaded = loadBrowserModules();
      const page = consolePageTemplate().replace("{{IMPORT_MAP}}", loaded.importMap).replace("{{ENTRY}}", loaded.entry);
      const importMapHash = encodeBase64(sha256(new TextEncoder().encode(loaded.importMap)));
      const csp = [
        "default-src 'none'",
        `script-src 'self' 'sha256-${importMapHash}'`,
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ].join("; ");
      modules = { ok: true, value: { ...loaded, page, csp } };
    } catch (error) {
      modules = { ok: false, detail: (error as Error).message };
      void run(Effect.logError("the console's browser code cannot be prepared").pipe(Effect.annotateLogs({ detail: (error as Error).message })));
    }
    return modules;
  };

  const page = (c: Context<AppEnv>) => {
    const code = browserCode();
    if (!code.ok) return problem(c, "console_unavailable", code.detail);
    return c.body(code.value.page, 200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache", "content-security-policy": code.value.csp, ...SECURITY_HEADERS });
  };
  app.get("/console", page);
  app.use("/console/", async (c) => c.redirect("/console", 308));

  // Assets are middleware, not routes: a tree of files, not an API operation.
  app.use(`${ASSET_PREFIX}/*`, async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return next();
    const code = browserCode();
    if (!code.ok) return problem(c, "console_unavailable", code.detail);
    const found = code.value.assets.get(c.req.path);
    if (found === undefined) return problem(c, "not_found", "no such console asset");
    const headers = { "content-type": found.contentType, etag: found.etag, "cache-control": "no-cache", ...SECURITY_HEADERS };
    if (c.req.header("if-none-match") === found.etag) return c.body(null, 304, headers);
    return c.body(found.body.slice().buffer as ArrayBuffer, 200, headers);
  });

  app.get("/console/api/session", (c) => {
    const invalid = queryProblem(c, []);
    if (invalid) return invalid;
    const principal = c.get("principal");
    return principal.role === "agent" ? c.json({ role: "agent", actor: principal.actor }) : c.json({ role: "operator", actor: null, operator: principal.name });
  });

  /** The viewer's filter: an agent's always names itself, and naming another agent is refused. */
  const viewerFilter = (c: Context<AppEnv>, extra: ReadonlyArray<string>): { ok: true; filter: DecisionFilter } | { ok: false; answer: Response } => {
    const parsed = parseDecisionFilter(c.req.queries(), extra);
    if (!parsed.ok) return { ok: false, answer: problem(c, "invalid_parameter", parsed.detail) };
    const principal = c.get("principal");
    if (principal.role !== "agent") return parsed;
    if (parsed.filter.actor !== undefined && parsed.filter.actor !== principal.actor) return { ok: false, answer: problem(c, "forbidden", "an agent sees its own decisions only") };
    return { ok: true, filter: { ...parsed.filter, actor: principal.actor } };
  };

  const openStreams = new Map<string, number>();
  let totalStreams = 0;

  app.get("/console/api/decisions/stream", (c) => {
    const viewer = viewerFilter(c, ["backfill", "after"]);
    if (!viewer.ok) return viewer.answer;
    const backfill = integerParameter(c.req.query("backfill"), 0, MAX_BACKFILL, DEFAULT_BACKFILL);
    if (backfill === undefined) return problem(c, "invalid_parameter", `backfill must be an integer in [0, ${MAX_BACKFILL}]`);
    const resume = c.req.header("last-event-id") ?? c.req.query("after");
    const afterPosition = integerParameter(resume, 0, Number.MAX_SAFE_INTEGER, 0);
    if (afterPosition === undefined) return problem(c, "invalid_parameter", "after (or Last-Event-ID) must be a store position");

    const principal = c.get("principal");
    const who = principal.role === "agent" ? principal.actor : "operator";
    const mine = openStreams.get(who) ?? 0;
    if (totalStreams >= MAX_STREAMS || mine >= MAX_STREAMS_PER_PRINCIPAL) return problem(c, "too_many_streams", `at most ${MAX_STREAMS_PER_PRINCIPAL} console streams per token (${MAX_STREAMS} in all) are open at once`);
    openStreams.set(who, mine + 1);
    totalStreams += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      totalStreams -= 1;
      const left = (openStreams.get(who) ?? 1) - 1;
      if (left === 0) openStreams.delete(who);
      else openStreams.set(who, left);
    };

    const stop = new AbortController();
    const encoder = new TextEncoder();
    let output!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (output = controller),
        cancel: () => stop.abort(),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: STREAM_BUFFER_BYTES }),
    );
    // A client that stops reading fills the buffer: messages are skipped (and counted) rather than held.
    const send = (text: string) => {
      if (stop.signal.aborted || (output.desiredSize ?? 0) <= 0) return false;
      output.enqueue(encoder.encode(text));
      return true;
    };
    c.req.raw.signal.addEventListener("abort", () => stop.abort(), { once: true });
    void run(Effect.scoped(streamDecisions(viewer.filter, { backfill, afterPosition }, send)), { signal: stop.signal })
      .catch(() => undefined)
      .finally(() => {
        release();
        try {
          output.close();
        } catch {
          // Already cancelled by the client.
        }
      });
    return new Response(body, {
      status: 200,
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no", ...SECURITY_HEADERS },
    });
  });

  app.get("/console/api/denials", async (c) => {
    const viewer = viewerFilter(c, ["minutes"]);
    if (!viewer.ok) return viewer.answer;
    const { action, status, reason } = viewer.filter;
    if (action !== undefined || status !== undefined || reason !== undefined) return problem(c, "invalid_parameter", "the chart is filtered by actor only");
    const minutes = integerParameter(c.req.query("minutes"), 1, DENIAL_WINDOW_MINUTES, 60);
    if (minutes === undefined) return problem(c, "invalid_parameter", `minutes must be an integer in [1, ${DENIAL_WINDOW_MINUTES}]`);
    const series = await run(Effect.flatMap(DecisionFeed, (feed) => feed.denials(viewer.filter.actor ?? null, minutes, Date.now())));
    return c.json({ actor: viewer.filter.actor ?? null, ...series });
  });

  app.get("/console/api/evidence/:decision_id", async (c) => {
    const invalid = queryProblem(c, []);
    if (invalid) return invalid;
    const id = c.req.param("decision_id");
    const principal = c.get("principal");
    const notFound = () => problem(c, "not_found", "no such decision is visible to this token");
    if (!DECISION_ID.test(id)) return notFound();
    const result = await run(Effect.flatMap(BatchAnchors, (anchoring) => inclusionProofFor(id, anchoring.statusOf)).pipe(Effect.either));
    if (Either.isLeft(result)) return problem(c, "audit_unavailable", "the audit trail cannot be read");
    const visible = (actor: string) => principal.role !== "agent" || principal.actor === actor;
    // As for GET /audit/proofs: another agent's decision is not found, sealed or not.
    if (Either.isLeft(result.right)) {
      const missing = result.right.left;
      return missing.kind === "not_yet_sealed" && visible(missing.actor) ? problem(c, "not_yet_sealed", missing.message) : notFound();
    }
    const { actor, event, record, proof } = result.right.right;
    if (!visible(actor)) return notFound();
    return c.json({ decision_id: id, event: hashedEventFields(event), record, proof });
  });

  app.get("/console/api/anchors/:batch_id", requireOperator, async (c) => {
    const invalid = queryProblem(c, []);
    if (invalid) return invalid;
    const id = c.req.param("batch_id");
    if (!BATCH_ID.test(id)) return problem(c, "invalid_parameter", "batch_id must be batch-N");
    const found = await run(
      Effect.gen(function* () {
        const trail = yield* AuditTrail;
        yield* trail.sync;
        const sealed = trail.checkpoints().find((c) => c.checkpoint.batch_id === id);
        if (sealed === undefined) return undefined;
        const anchor = yield* Effect.flatMap(BatchAnchors, (anchoring) => anchoring.statusOf(id));
        const events = yield* Effect.flatMap(EventStore, (store) => store.readStream(anchorStream(id), { limit: 1000 }));
        return { sealed: sealed.checkpoint, anchor, events };
      }).pipe(Effect.either),
    );
    if (Either.isLeft(found)) return problem(c, "audit_unavailable", "the audit trail cannot be read");
    if (found.right === undefined) return problem(c, "not_found", "no sealed checkpoint has this batch id");
    const { sealed, anchor, events } = found.right;
    return c.json({
      batch_id: sealed.batch_id,
      tree_size: sealed.tree_size,
      root: sealed.root,
      sealed_at: sealed.sealed_at,
      anchor,
      events: events.map((event) => ({ type: event.type, position: event.position, recorded_at: event.recordedAt, data: event.data })),
    });
  });

  return app;
}
