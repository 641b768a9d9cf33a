/**
 * The chain-side check (anchoredHistory.ts), pure, on logs built the way the projection
 * builds them (events -> chained records -> RFC 6962 leaves). The law: for any log and
 * any anchored sizes, an insider who changes any event at or below an anchored size and
 * then recomputes and re-signs everything (so the store verifies offline) is caught, at
 * the first anchored size at or past the first changed record.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { checkAnchoredHistory, divergenceFromLatest, type ChainAnchor, type VerifiedLog } from "../../src/anchoring/core/anchoredHistory.ts";
import { chainRecord, EMPTY_CHAIN, type ChainHead } from "../../src/audit/AuditRecord.ts";
import { recordLeaf } from "../../src/audit/AuditTrail.ts";
import type { JsonObject, RecordedEvent } from "../../src/events/EventStore.ts";
import { bytesToHex } from "../../src/kernel/hashing.ts";
import { MerkleTree } from "../../src/kernel/merkle.ts";

interface Payload {
  /** Unique, as event ids are. */
  readonly id: string;
  readonly data: JsonObject;
}

/** The verified log of a list of events, as the projection would chain it (positions and revisions by order). */
function logOf(payloads: ReadonlyArray<Payload>): VerifiedLog {
  const tree = new MerkleTree();
  let head: ChainHead = EMPTY_CHAIN;
  payloads.forEach(({ id, data }, index) => {
    const event: RecordedEvent = { id, type: "Test.v1", stream: "s", revision: index, position: index + 1, data, metadata: {}, recordedAt: "2026-12-01T00:00:00.000Z" };
    const record = chainRecord(head, event, "zt-test");
    tree.append(recordLeaf(record.hash));
    head = record;
  });
  return { size: tree.size, rootAt: (size) => (size >= 1 && size <= tree.size ? bytesToHex(tree.root(size)!) : undefined) };
}

const anchorsAt = (log: VerifiedLog, sizes: ReadonlyArray<number>): ChainAnchor[] =>
  sizes.map((treeSize, index) => ({ treeSize, root: log.rootAt(treeSize)!, blockNumber: 10 + index, txHash: `0x${String(index).padStart(64, "0")}` }));

const latestOf = (anchors: ReadonlyArray<ChainAnchor>) => (anchors.length === 0 ? undefined : { treeSize: anchors.at(-1)!.treeSize, root: anchors.at(-1)!.root });
const NO_LIMITS = { chainTime: 1_000, lastAnchorTime: 900 };

type Mutation = "alter" | "delete" | "insert" | "swap" | "truncate";

describe("anchored history", () => {
  test("property: any change at or below an anchored size, recomputed and re-signed, is caught at the first anchor past it", () => {
    const scenario = fc
      .array(fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { minLength: 2, maxLength: 40 })
      .chain((payloads) =>
        fc.record({
          payloads: fc.constant(payloads.map((data, index) => ({ id: `event-${index}`, data: data as JsonObject }))),
          sizes: fc.uniqueArray(fc.integer({ min: 1, max: payloads.length }), { minLength: 1, maxLength: 6 }).map((sizes) => [...sizes].sort((a, b) => a - b)),
          at: fc.nat(),
          mutation: fc.constantFrom<Mutation>("alter", "delete", "insert", "swap", "truncate"),
        }),
      );
    fc.assert(
      fc.property(scenario, ({ payloads, sizes, at, mutation }) => {
        const genuine = logOf(payloads);
        const anchors = anchorsAt(genuine, sizes);
        assert.equal(checkAnchoredHistory(genuine, anchors, latestOf(anchors), NO_LIMITS).failure, null, "the genuine log passes");

        const largest = sizes.at(-1)!;
        const index = at % largest; // a record at or below an anchored size
        const changed = [...payloads];
        switch (mutation) {
          case "alter":
            changed[index] = { id: changed[index]!.id, data: { ...changed[index]!.data, insider: index } };
            break;
          case "delete":
            changed.splice(index, 1);
            break;
          case "insert":
            changed.splice(index, 0, { id: "fabricated", data: { fabricated: true } });
            break;
          case "swap":
            fc.pre(index + 1 < changed.length);
            [changed[index], changed[index + 1]] = [changed[index + 1]!, changed[index]!];
            break;
          case "truncate":
            changed.length = index;
            break;
        }
        const rewritten = logOf(changed);
        const report = checkAnchoredHistory(rewritten, anchors, latestOf(anchors), NO_LIMITS);
        assert.equal(report.failure?.kind, "anchor_mismatch", `${mutation} at ${index} passed`);
        assert.equal(report.failure?.treeSize, sizes.find((size) => size >= index + 1));
        assert.notEqual(divergenceFromLatest(rewritten, latestOf(anchors)), null, "the sidecar sees it too");
      }),
      { numRuns: 300 },
    );
  });

  test("the DAAL's latest state counts even when its log is not final yet; a log with records and no anchor fails", () => {
    const events = (...data: JsonObject[]) => data.map((d, index) => ({ id: `event-${index}`, data: d }));
    const log = logOf(events({ a: 1 }, { b: 2 }, { c: 3 }));
    const other = logOf(events({ a: 1 }, { x: 9 }, { c: 3 }));
    const latest = { treeSize: 3, root: other.rootAt(3)! };
    assert.equal(checkAnchoredHistory(log, [], latest, NO_LIMITS).failure?.kind, "anchor_mismatch");
    assert.equal(checkAnchoredHistory(log, [], undefined, NO_LIMITS).failure?.kind, "anchor_missing");
    assert.equal(checkAnchoredHistory(logOf([]), [], undefined, NO_LIMITS).failure, null, "an empty log needs no anchor");
    assert.equal(divergenceFromLatest(log, undefined), null);
    assert.equal(divergenceFromLatest(log, { treeSize: 4, root: log.rootAt(3)! })?.includes("holds 3 records"), true);
  });

  test("freshness: records after the last anchor, and the last anchor's age by block time", () => {
    const log = logOf(Array.from({ length: 10 }, (_, i) => ({ id: `event-${i}`, data: { i } })));
    const anchors = anchorsAt(log, [4, 7]);
    const check = (limits: Parameters<typeof checkAnchoredHistory>[3]) => checkAnchoredHistory(log, anchors, latestOf(anchors), limits).failure;
    assert.equal(check({ ...NO_LIMITS, maxUnanchored: 3 }), null);
    assert.deepEqual(check({ ...NO_LIMITS, maxUnanchored: 2 })?.kind, "unanchored_records");
    assert.equal(check({ chainTime: 1_000, lastAnchorTime: 500, maxAnchorAgeSeconds: 500 }), null);
    assert.equal(check({ chainTime: 1_000, lastAnchorTime: 499, maxAnchorAgeSeconds: 500 })?.kind, "anchor_too_old");
    // Everything anchored: no age limit applies.
    const all = anchorsAt(log, [4, 10]);
    assert.equal(checkAnchoredHistory(log, all, latestOf(all), { chainTime: 10_000, lastAnchorTime: 1, maxAnchorAgeSeconds: 5 }).failure, null);
  });
});
