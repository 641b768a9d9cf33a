import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Effect, Layer, ManagedRuntime } from "effect";
import { SqliteEventStore } from "../../src/events/sqlite/SqliteEventStore.ts";
import { MarketSnapshots } from "../../src/market/MarketSnapshots.ts";
import { Ids } from "../../src/platform/Ids.ts";
import { tempDir } from "../support/harness.ts";

const instance = (path: string) => ManagedRuntime.make(MarketSnapshots.layer.pipe(Layer.provide(Layer.mergeAll(SqliteEventStore.layer({ path }), Ids.layer))));

test("two instances on one store agree on the current snapshot, and a restart keeps it", async () => {
  const dir = tempDir();
  const path = join(dir, "events.db");
  const a = instance(path);
  const b = instance(path);
  try {
    assert.equal(await b.runPromise(Effect.flatMap(MarketSnapshots, (m) => m.current)), undefined);
    const first = { as_of: "2026-02-23T18:40:00Z", prices: { SOL: 142.1 } };
    const second = { as_of: "2026-02-23T18:41:00Z", prices: { SOL: 150 } };
    await a.runPromise(Effect.flatMap(MarketSnapshots, (m) => m.replace(first, "operator")));
    assert.deepEqual(await b.runPromise(Effect.flatMap(MarketSnapshots, (m) => m.current)), first);
    await b.runPromise(Effect.flatMap(MarketSnapshots, (m) => m.replace(second, "operator")));
    assert.deepEqual(await a.runPromise(Effect.flatMap(MarketSnapshots, (m) => m.current)), second);
    await a.dispose();
    const restarted = instance(path);
    assert.deepEqual(await restarted.runPromise(Effect.flatMap(MarketSnapshots, (m) => m.current)), second);
    await restarted.dispose();
  } finally {
    await a.dispose();
    await b.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
