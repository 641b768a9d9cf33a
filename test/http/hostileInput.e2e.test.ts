/**
 * Property: nothing an authenticated caller sends, to any endpoint, gets a 5xx, stops
 * the audit projection, or costs memory that stays (contract section 7). Bodies are
 * random and hostile: nested thousands deep, thousands wide, any Unicode (lone surrogates,
 * controls, BOMs), duplicate keys, numbers JSON cannot carry, random bytes; paths and
 * queries are random too. After each batch the projection must have gone past
 * everything recorded so far. The seed is fixed; ZT_PROPERTY_SEED explores others.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Effect } from "effect";
import fc from "fast-check";
import { EventStore } from "../../src/events/EventStore.ts";
import { makeHarness, type Harness } from "../support/harness.ts";
import { waitFor } from "../support/waitFor.ts";

const SEED = Number(process.env["ZT_PROPERTY_SEED"] ?? 20261201);

const deep = fc.tuple(fc.integer({ min: 30, max: 5000 }), fc.constantFrom("[", "{\"a\":")).map(([depth, open]) => {
  const close = open === "[" ? "]" : "}";
  return `${open.repeat(depth)}1${close.repeat(depth)}`;
});
const wide = fc.tuple(fc.integer({ min: 1000, max: 12_000 }), fc.boolean()).map(([width, object]) =>
  object ? `{${Array.from({ length: width }, (_, i) => `"k${i}":${i}`).join(",")}}` : `[${Array.from({ length: width }, (_, i) => i).join(",")}]`,
);
const unicodeText = fc.string({ unit: fc.constantFrom("\u0000", "\u001f", "\ud800", "\udfff", "\ufeff", "\u202e", "é", "😀", "\\", '"', "a", "\n"), maxLength: 64 });
const unicode = fc.oneof(
  unicodeText.map((text) => JSON.stringify({ actor: text, action: text, resource: text, context: { [text]: text }, intent: { protocol: text, note: text } })),
  unicodeText.map((text) => `{"${text}":1}`),
  fc.constantFrom('{"actor":"\\ud800"}', '{"context":{"\\udc00":1}}', '{"x":1e400}', '{"x":-1e400}', '\ufeff\ufeff{}', '{"as_of":"2026-01-01T00:00:00Z","prices":{"\\ud800":1}}'),
);
const duplicateKeys = fc.tuple(fc.constantFrom("actor", "action", "resource", "intent", "context", "subject", "scope", "as_of", "prices", "amount", "constraints"), fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 })).map(
  ([key, a, b]) => `{"actor":"agent:desk-7","action":"quote.read","resource":"solana:mainnet/x","context":{"${key}":${JSON.stringify(a)},"${key}":${JSON.stringify(b)}},"${key}":1,"${key}":2}`,
);
const bytes = fc.uint8Array({ maxLength: 512 }).map((b) => new TextDecoder("latin1").decode(b));
const jsonish = fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v));
const hostileBody = fc.oneof(deep, wide, unicode, duplicateKeys, bytes, jsonish);

type Caller = "operator" | "desk7" | "ops1";
const bodyEndpoints: ReadonlyArray<readonly [string, string]> = [
  ["POST", "/actions"],
  ["POST", "/permits"],
  ["PUT", "/market/snapshot"],
];
const pathSegment = fc.string({ unit: fc.constantFrom("a", "%00", "%2F", "..", "dec_", "0", "Z", "%F0%9F%98%80", "%ZZ", "'", "<"), maxLength: 40 });
const query = fc.string({ unit: fc.constantFrom("1", "-", "e", "9", "a", "%00", "&", "=", "."), maxLength: 24 });
const readRequest = fc.oneof(
  pathSegment.map((s) => `/decisions/${s}`),
  pathSegment.map((s) => `/audit/proofs/${s}`),
  fc.tuple(query, query).map(([a, b]) => `/audit/records?after=${a}&limit=${b}`),
  fc.tuple(query, query).map(([a, b]) => `/audit/consistency?from=${a}&to=${b}`),
  pathSegment.map((s) => `/console/api/evidence/${s}`),
  pathSegment.map((s) => `/console/api/anchors/${s}`),
  pathSegment.map((s) => `/console/assets/${s}`),
  fc.tuple(query, query).map(([a, b]) => `/console/api/decisions/stream?status=${a}&backfill=${b}`),
  fc.tuple(query, query).map(([a, b]) => `/console/api/denials?minutes=${a}&actor=${b}`),
  fc.constantFrom("/audit/head", "/audit/batches", "/metrics", "/readyz", "/keys", "/openapi.json", "/nope", "/actions", "/console", "/console/api/session"),
);

describe("hostile input on every endpoint", () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness({ env: { ZT_CHECKPOINT_MS: "200" } });
  });
  after(() => h.close());

  const lastPosition = () =>
    h.built.runtime.runPromise(
      Effect.gen(function* () {
        const store = yield* EventStore;
        for (let after = 0; ; ) {
          const page = yield* store.readAll({ after, limit: 10_000 });
          if (page.length === 0) return after;
          after = page.at(-1)!.position;
        }
      }),
    );
  /** The projection covers every event recorded so far (it never stops, whatever was sent). */
  const projectionCoversAll = async () => {
    const position = await lastPosition();
    await waitFor(`the audit projection to reach position ${position}`, async () => {
      const head = await h.request("GET", "/audit/head", { token: h.tokens.operator });
      return head.json.position >= position ? true : undefined;
    });
  };

  test("random hostile bodies and paths: never a 5xx, always JSON, and the projection keeps advancing", { timeout: 300_000 }, async () => {
    const statuses = new Map<number, number>();
    let batch = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...bodyEndpoints), fc.constantFrom<Caller>("operator", "desk7", "ops1"), hostileBody, readRequest, async ([method, path], caller, body, read) => {
        const reply = await h.request(method, path, { token: h.tokens[caller], body });
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        assert.ok(reply.status < 500, `${method} ${path} as ${caller} answered ${reply.status}: ${reply.text.slice(0, 300)}`);
        assert.ok(reply.json !== undefined, `${method} ${path} answered no JSON: ${reply.text.slice(0, 200)}`);
        const got = await h.request("GET", read, { token: h.tokens[caller] });
        assert.ok(got.status < 500, `GET ${read} as ${caller} answered ${got.status}: ${got.text.slice(0, 300)}`);
        if (++batch % 50 === 0) await projectionCoversAll();
      }),
      { numRuns: 400, seed: SEED, endOnFailure: true },
    );
    await projectionCoversAll();
    assert.equal((await h.request("GET", "/readyz")).status, 200);
    // The generators reached the schema checks, not only the JSON reader.
    assert.ok((statuses.get(400) ?? 0) > 100 && (statuses.get(403) ?? 0) + (statuses.get(200) ?? 0) > 0, JSON.stringify(Object.fromEntries(statuses)));
  });

  test("memory stays bounded: heap after GC grows less than 50 MB over 5,000 requests with 60 KB contexts", { timeout: 300_000 }, async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const context = (i: number) => ({ note: `${i}:${"q".repeat(60_000)}`, n: i });
    const send = (i: number) => h.request("POST", "/actions", { token: h.tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca", context: context(i) } });
    for (let i = 0; i < 50; i++) await send(-i - 1);
    const before = heap();
    for (let i = 0; i < 5000; i++) {
      const reply = await send(i);
      assert.equal(reply.status, 200, reply.text.slice(0, 200));
    }
    const grown = heap() - before;
    assert.ok(grown < 50 * 1024 * 1024, `heap grew ${(grown / 1024 / 1024).toFixed(1)} MB over 5,000 requests with 60 KB contexts`);
    await projectionCoversAll();
  });
});
