/**
 * The console's endpoints through the full in-process stack (real store, Cedar, keys):
 * the page and its modules (the very src/ code, types stripped), the session, the live
 * stream with its filters and an agent's view of its own decisions only (enforced by the
 * server), the denials chart, a decision's evidence and a checkpoint's anchor; and bad
 * input to every one of them answering problem+json, never a 5xx.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { stripTypeScriptTypes } from "node:module";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { checkDecisionEvidence, auditKeysFrom } from "../../src/audit/checkEvidence.ts";
import { makeWebCryptoVerifier } from "../../src/kernel/ed25519.ts";
import { MAX_STREAMS_PER_PRINCIPAL } from "../../src/console/routes.ts";
import { makeHarness, REPO_ROOT, swapRequest, type Harness } from "../support/harness.ts";
import { waitFor } from "../support/waitFor.ts";

const QUOTE = { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/jupiter" };
const OPS_SHELL = { actor: "agent:ops-1", action: "quote.read", resource: "solana:mainnet/jupiter" };

interface SseEvent {
  readonly event: string;
  readonly id: string | null;
  readonly data: any;
}

/** Opens the stream and reads events until `enough` says so (or the time is up); then hangs up. */
async function readStream(h: Harness, query: string, token: string, enough: (events: SseEvent[]) => boolean, options: { headers?: Record<string, string>; timeoutMs?: number; whileOpen?: () => Promise<void> } = {}) {
  const response = await h.built.app.request(`/console/api/decisions/stream${query}`, { headers: { authorization: `Bearer ${token}`, ...options.headers } });
  assert.equal(response.status, 200, await (response.status === 200 ? Promise.resolve("") : response.text()));
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = "";
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  const opened = options.whileOpen?.();
  try {
    while (!enough(events) && Date.now() < deadline) {
      const next = await Promise.race([reader.read(), new Promise<null>((resolve) => setTimeout(() => resolve(null), Math.max(1, deadline - Date.now())))]);
      if (next === null || next.done) break;
      buffer += next.value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split("\n").filter((line) => !line.startsWith(":") && line !== "");
        const field = (name: string) => lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2) ?? null;
        const data = field("data");
        if (data !== null) events.push({ event: field("event") ?? "message", id: field("id"), data: JSON.parse(data) });
      }
    }
  } finally {
    await reader.cancel();
    await opened;
  }
  return events;
}

const decisionsIn = (events: SseEvent[]) => events.filter((e) => e.event === "decisions").flatMap((e) => e.data as any[]);

function assertProblem(reply: { status: number; json: any; text: string }, status: number, reason: string, what: string) {
  assert.equal(reply.status, status, `${what}: ${reply.text}`);
  assert.equal(reply.json?.reason, reason, `${what}: ${reply.text}`);
  assert.equal(reply.json?.status, status, what);
  assert.match(reply.json?.type ?? "", /^urn:zt-infra:problem:/, what);
}

describe("console endpoints", () => {
  let h: Harness;
  const decisions: Record<string, string> = {};

  before(async () => {
    h = await makeHarness({ env: { ZT_CHECKPOINT_MS: "100" } });
    decisions["desk7Allowed"] = (await h.request("POST", "/actions", { token: h.tokens.desk7, json: QUOTE })).json.decision_id;
    decisions["desk7Denied"] = (await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest() })).json.decision_id;
    decisions["ops1Denied"] = (await h.request("POST", "/actions", { token: h.tokens.ops1, json: OPS_SHELL })).json.decision_id;
  });
  after(async () => h?.close());

  test("GET /console is public HTML with a CSP that allows its import map and its own modules only", async () => {
    const page = await h.built.app.request("/console");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    const html = await page.text();
    const importMap = /<script type="importmap">([^<]*)<\/script>/.exec(html)![1]!;
    const csp = page.headers.get("content-security-policy") ?? "";
    const hash = (await crypto.subtle.digest("SHA-256", new TextEncoder().encode(importMap)));
    assert.ok(csp.includes(`'sha256-${Buffer.from(hash).toString("base64")}'`), "the import map is allowed by its hash");
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self' 'sha256-/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    const slash = await h.built.app.request("/console/");
    assert.equal(slash.status, 308);
    assert.equal(slash.headers.get("location"), "/console");
  });

  test("the browser gets the very src/ modules with their types stripped, and the kernel's npm packages as they are", async () => {
    const html = await (await h.built.app.request("/console")).text();
    const imports: Record<string, string> = JSON.parse(/<script type="importmap">([^<]*)<\/script>/.exec(html)![1]!).imports;
    assert.deepEqual(Object.keys(imports).sort(), ["@noble/ed25519", "@noble/hashes/sha2.js", "@noble/hashes/utils.js", "canonicalize"]);
    for (const [specifier, url] of Object.entries(imports)) {
      const served = await h.built.app.request(url);
      assert.equal(served.status, 200, specifier);
      assert.match(served.headers.get("content-type") ?? "", /^text\/javascript/);
      assert.equal(await served.text(), readFileSync(new URL(import.meta.resolve(specifier)), "utf8"), `${specifier} is served unchanged`);
    }
    for (const module of ["kernel/merkle.ts", "kernel/checkpoint.ts", "kernel/jcs.ts", "audit/AuditRecord.ts", "audit/checkEvidence.ts", "console/page/main.ts"]) {
      const served = await h.built.app.request(`/console/assets/src/${module}`);
      assert.equal(served.status, 200, module);
      const source = readFileSync(join(REPO_ROOT, "src", module), "utf8");
      assert.equal(await served.text(), stripTypeScriptTypes(source, { mode: "strip" }), `${module} is the source with its types stripped`);
      const etag = served.headers.get("etag")!;
      assert.equal((await h.built.app.request(`/console/assets/src/${module}`, { headers: { "if-none-match": etag } })).status, 304);
    }
    const css = await h.built.app.request("/console/assets/console.css");
    assert.equal(css.status, 200);
    assert.equal(await css.text(), readFileSync(join(REPO_ROOT, "src/console/page/console.css"), "utf8"));
    // Nothing but the module graph: not another source file, not the data directory.
    for (const path of ["/console/assets/src/layers.ts", "/console/assets/src/config.ts", "/console/assets/vendor/effect/dist/esm/index.js", "/console/assets/src/kernel/merkle"]) {
      const reply = await h.request("GET", path);
      assertProblem(reply, 404, "not_found", path);
    }
    // A path that leaves the assets is not an asset: here it reaches the authentication of the rest.
    for (const path of ["/console/assets/../../data/keys/audit.key.json", "/console/assets/%2e%2e/%2e%2e/package.json"]) {
      const escaped = await h.request("GET", path);
      assert.ok(escaped.status === 401 || escaped.status === 404, `${path}: ${escaped.text}`);
    }
    assertProblem(await h.request("POST", "/console/assets/console.css"), 404, "not_found", "POST to an asset");
  });

  test("GET /console/api/session names the principal; no token is 401", async () => {
    assert.deepEqual((await h.request("GET", "/console/api/session", { token: h.tokens.operator })).json, { role: "operator", actor: null, operator: "operator:alice" });
    assert.deepEqual((await h.request("GET", "/console/api/session", { token: h.tokens.desk7 })).json, { role: "agent", actor: "agent:desk-7" });
    assertProblem(await h.request("GET", "/console/api/session"), 401, "unauthorized", "no token");
    assertProblem(await h.request("GET", "/console/api/session", { token: "zt_nope" }), 401, "unauthorized", "unknown token");
  });

  test("the stream backfills and then goes live; the operator sees every actor", async () => {
    let live = "";
    const events = await readStream(h, "", h.tokens.operator, (e) => decisionsIn(e).some((d) => d.decision_id === live), {
      whileOpen: async () => {
        await waitFor("the backfill to be read", async () => true);
        live = (await h.request("POST", "/actions", { token: h.tokens.ops1, json: OPS_SHELL })).json.decision_id;
      },
    });
    const seen = decisionsIn(events);
    for (const id of Object.values(decisions)) assert.ok(seen.some((d) => d.decision_id === id), `${id} is in the backfill`);
    assert.ok(seen.some((d) => d.decision_id === live), "a decision made while the stream is open arrives live");
    const denied = seen.find((d) => d.decision_id === decisions["desk7Denied"]);
    assert.deepEqual(Object.keys(denied).sort(), ["action", "actor", "decided_at", "decision_id", "notional_usd", "policy_id", "position", "reason", "resource", "status"]);
    assert.equal(denied.reason, "permit_required");
    assert.equal(denied.actor, "agent:desk-7");
    const last = events.filter((e) => e.event === "decisions").at(-1)!;
    assert.equal(Number(last.id), (last.data as any[]).at(-1).position, "the event id is the last summary's store position");
  });

  test("filters: status, reason, action and actor select on the server", async () => {
    const denied = decisionsIn(await readStream(h, "?status=denied", h.tokens.operator, (e) => decisionsIn(e).length >= 2));
    assert.ok(denied.length >= 2 && denied.every((d) => d.status === "denied"));
    const byReason = decisionsIn(await readStream(h, "?reason=permit_required", h.tokens.operator, (e) => decisionsIn(e).length >= 1));
    assert.ok(byReason.length >= 1 && byReason.every((d) => d.reason === "permit_required"));
    const byAction = decisionsIn(await readStream(h, "?action=swap.execute&actor=agent%3Adesk-7", h.tokens.operator, (e) => decisionsIn(e).length >= 1));
    assert.ok(byAction.length >= 1 && byAction.every((d) => d.action === "swap.execute" && d.actor === "agent:desk-7"));
    const none = await readStream(h, "?actor=agent%3Anobody", h.tokens.operator, () => false, { timeoutMs: 400 });
    assert.deepEqual(decisionsIn(none), []);
  });

  test("an agent sees its own decisions only, on the stream, the chart and the evidence", async () => {
    const own = decisionsIn(await readStream(h, "", h.tokens.desk7, (e) => decisionsIn(e).length >= 2, { timeoutMs: 1500 }));
    assert.ok(own.length >= 2);
    assert.ok(own.every((d) => d.actor === "agent:desk-7"), "only desk-7's decisions");
    assert.ok(!own.some((d) => d.decision_id === decisions["ops1Denied"]));
    assertProblem(await h.request("GET", "/console/api/decisions/stream?actor=agent%3Aops-1", { token: h.tokens.desk7 }), 403, "forbidden", "an agent naming another");
    const ownNamed = await h.request("GET", "/console/api/decisions/stream?actor=agent%3Adesk-7", { token: h.tokens.desk7 });
    assert.equal(ownNamed.status, 200, "naming itself is fine");

    const chart = (await h.request("GET", "/console/api/denials", { token: h.tokens.ops1 })).json;
    assert.equal(chart.actor, "agent:ops-1");
    assert.deepEqual(chart.reasons, ["policy_denied"], "ops-1's chart counts ops-1's denials only");
    assertProblem(await h.request("GET", "/console/api/denials?actor=agent%3Adesk-7", { token: h.tokens.ops1 }), 403, "forbidden", "chart of another agent");

    assertProblem(await h.request("GET", `/console/api/evidence/${decisions["desk7Denied"]}`, { token: h.tokens.ops1 }), 404, "not_found", "another agent's evidence");
  });

  test("the chart counts decisions and denials per minute, by reason", async () => {
    const chart = await waitFor("the feed to count every decision", async () => {
      const reply = (await h.request("GET", "/console/api/denials?minutes=5", { token: h.tokens.operator })).json;
      const decided = reply.buckets.reduce((sum: number, b: any) => sum + b.decisions, 0);
      return decided >= 4 ? reply : undefined;
    });
    assert.equal(chart.bucket_seconds, 60);
    assert.equal(chart.buckets.length, 5);
    assert.equal(chart.actor, null);
    const totals: Record<string, number> = {};
    for (const bucket of chart.buckets) for (const [reason, n] of Object.entries(bucket.denied as Record<string, number>)) totals[reason] = (totals[reason] ?? 0) + n;
    assert.ok((totals["policy_denied"] ?? 0) >= 2);
    assert.equal(totals["permit_required"], 1);
    assert.deepEqual(chart.reasons, Object.keys(totals).sort((a, b) => totals[b]! - totals[a]! || a.localeCompare(b)));
  });

  test("evidence verifies with the checks the browser runs; not yet sealed is 409", async () => {
    const id = decisions["desk7Denied"]!;
    const evidence = await waitFor("a checkpoint over the decision", async () => {
      const reply = await h.request("GET", `/console/api/evidence/${id}`, { token: h.tokens.desk7 });
      return reply.status === 200 ? reply.json : undefined;
    });
    assert.deepEqual(Object.keys(evidence).sort(), ["decision_id", "event", "proof", "record"]);
    const keys = auditKeysFrom((await h.request("GET", "/keys")).json);
    const report = await checkDecisionEvidence(id, evidence, keys, makeWebCryptoVerifier());
    assert.equal(report.ok, true, JSON.stringify(report.checks));
    const operator = await h.request("GET", `/console/api/evidence/${id}`, { token: h.tokens.operator });
    assert.equal(operator.status, 200);
    assertProblem(await h.request("GET", `/console/api/evidence/dec_${"0".repeat(26)}`, { token: h.tokens.operator }), 404, "not_found", "unknown decision");
  });

  test("anchors: operator only; with ZT_CHAIN=off a checkpoint has no anchor and no events", async () => {
    const batch = await waitFor("a sealed checkpoint", async () => (await h.request("GET", "/audit/batches", { token: h.tokens.operator })).json.batches[0]);
    const reply = await h.request("GET", `/console/api/anchors/${batch.batch_id}`, { token: h.tokens.operator });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual({ ...reply.json, sealed_at: undefined }, { batch_id: batch.batch_id, tree_size: batch.tree_size, root: batch.root, sealed_at: undefined, anchor: null, events: [] });
    assertProblem(await h.request("GET", `/console/api/anchors/${batch.batch_id}`, { token: h.tokens.desk7 }), 403, "forbidden", "an agent");
    assertProblem(await h.request("GET", "/console/api/anchors/batch-999999", { token: h.tokens.operator }), 404, "not_found", "unsealed batch");
  });

  test(`at most ${MAX_STREAMS_PER_PRINCIPAL} open streams per token: the next is 429 until one closes`, async () => {
    const open = await Promise.all(Array.from({ length: MAX_STREAMS_PER_PRINCIPAL }, () => h.built.app.request("/console/api/decisions/stream?backfill=0", { headers: { authorization: `Bearer ${h.tokens.ops1}` } })));
    assert.ok(open.every((r) => r.status === 200));
    try {
      assertProblem(await h.request("GET", "/console/api/decisions/stream", { token: h.tokens.ops1 }), 429, "too_many_streams", "one too many");
      assert.equal((await h.request("GET", "/console/api/decisions/stream", { token: h.tokens.desk7 })).status, 200, "another token is not affected");
    } finally {
      await Promise.all(open.map((r) => r.body!.cancel()));
    }
    await waitFor("the streams to be released", async () => ((await h.request("GET", "/console/api/decisions/stream", { token: h.tokens.ops1 })).status === 200 ? true : undefined));
  });

  test("bad input to every console endpoint is a problem+json 4xx, never a 5xx", async () => {
    const cases: ReadonlyArray<readonly [string, string, number, string, Record<string, string>?]> = [
      ["/console/api/session?x=1", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?status=maybe", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?reason=because", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?status=denied&status=allowed", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?colour=red", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?actor=%00", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?actor=%F0%9F%98%80", "operator", 400, "invalid_parameter"],
      [`/console/api/decisions/stream?action=${"a".repeat(201)}`, "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?backfill=-1", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?backfill=1001", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?backfill=1e3", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?after=abc", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream?after=99999999999999999999", "operator", 400, "invalid_parameter"],
      ["/console/api/decisions/stream", "operator", 400, "invalid_parameter", { "last-event-id": "-5" }],
      ["/console/api/decisions/stream", "operator", 400, "invalid_parameter", { "last-event-id": "x".repeat(5000) }],
      ["/console/api/decisions/stream", "desk7", 403, "forbidden", {}],
      ["/console/api/denials?minutes=0", "operator", 400, "invalid_parameter"],
      ["/console/api/denials?minutes=1441", "operator", 400, "invalid_parameter"],
      ["/console/api/denials?minutes=ten", "operator", 400, "invalid_parameter"],
      ["/console/api/denials?status=denied", "operator", 400, "invalid_parameter"],
      ["/console/api/denials?minutes=5&minutes=6", "operator", 400, "invalid_parameter"],
      ["/console/api/evidence/not-a-decision", "operator", 404, "not_found"],
      ["/console/api/evidence/dec_%00", "operator", 404, "not_found"],
      [`/console/api/evidence/${"dec_".padEnd(5000, "A")}`, "operator", 404, "not_found"],
      ["/console/api/evidence/dec_01JAAAAAAAAAAAAAAAAAAAAAAA?x=1", "operator", 400, "invalid_parameter"],
      ["/console/api/anchors/batch-0", "operator", 400, "invalid_parameter"],
      ["/console/api/anchors/..%2F..%2Fkeys", "operator", 400, "invalid_parameter"],
      ["/console/api/anchors/batch-1?x=1", "operator", 400, "invalid_parameter"],
      ["/console/api/nope", "operator", 404, "not_found"],
      ["/console/api/session", "none", 401, "unauthorized"],
      ["/console/api/decisions/stream", "none", 401, "unauthorized"],
    ];
    for (const [path, who, status, reason, headers] of cases) {
      const token = who === "operator" ? h.tokens.operator : who === "desk7" ? h.tokens.desk7 : undefined;
      // The desk7 case asks for another agent's stream through a header-less filter of the query.
      const target = who === "desk7" ? `${path}?actor=agent%3Aops-1` : path;
      const reply = await h.request("GET", target, { ...(token === undefined ? {} : { token }), ...(headers === undefined ? {} : { headers }) });
      assertProblem(reply, status, reason, `GET ${target}`);
      assert.match(reply.text, /^\{/, "a JSON body");
    }
    for (const method of ["POST", "PUT", "DELETE"]) {
      for (const path of ["/console", "/console/api/session", "/console/api/decisions/stream", "/console/api/denials"]) {
        const reply = await h.request(method, path, { token: h.tokens.operator, body: "{}" });
        assert.ok(reply.status >= 400 && reply.status < 500, `${method} ${path}: ${reply.status}`);
        assert.equal(reply.json?.type?.startsWith("urn:zt-infra:problem:"), true, `${method} ${path} is a problem`);
      }
    }
    // Nothing of the above was echoed, nor logged with its value.
    assert.ok(!h.logs.some((line) => line.includes("x".repeat(100))), "no submitted value in the logs");
  });
});
