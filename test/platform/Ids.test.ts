import assert from "node:assert/strict";
import { test } from "node:test";
import { Effect } from "effect";
import { isUuidV4 } from "../../src/kernel/ids.ts";
import { Ids } from "../../src/platform/Ids.ts";

const draw = <A>(effect: Effect.Effect<A, never, Ids>) => Effect.runSync(Effect.provide(effect, Ids.layer));

test("ids drawn from the pooled CSPRNG never repeat, across many pool refills", () => {
  // 20,000 UUIDs take 320,000 random bytes: about 78 refills of the 4 KiB pool.
  const uuids = draw(Effect.flatMap(Ids, (ids) => Effect.all(Array.from({ length: 20_000 }, () => ids.uuid))));
  assert.equal(new Set(uuids).size, uuids.length);
  for (const uuid of uuids) assert.ok(isUuidV4(uuid), uuid);
  const ulids = draw(Effect.flatMap(Ids, (ids) => Effect.all(Array.from({ length: 20_000 }, () => ids.ulid(1_700_000_000_000)))));
  assert.equal(new Set(ulids).size, ulids.length, "ULIDs of one millisecond differ in their 80 random bits");
});

test("random bits are not stuck: every hex digit appears in every random position of a UUID", () => {
  const uuids = draw(Effect.flatMap(Ids, (ids) => Effect.all(Array.from({ length: 2_000 }, () => ids.uuid))));
  for (const position of [0, 9, 20, 35]) {
    const seen = new Set(uuids.map((uuid) => uuid[position]));
    assert.equal(seen.size, 16, `position ${position} saw ${[...seen].join("")}`);
  }
});
