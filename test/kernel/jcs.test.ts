import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { canonicalJson, canonicalJsonTrusted } from "../../src/kernel/jcs.ts";
import { vectorPath } from "../support/vectors.ts";

const utf8 = new TextEncoder();

test("RFC 8785 reference vectors canonicalize byte for byte", async (t) => {
  const input = vectorPath("jcs/input/");
  const output = vectorPath("jcs/output/");
  const files = readdirSync(input).filter((name) => name.endsWith(".json")).sort();
  assert.ok(files.length > 0, `no vector files in ${input.pathname}`);
  for (const name of files) {
    await t.test(name, () => {
      const result = canonicalJson(JSON.parse(readFileSync(new URL(name, input), "utf8")));
      assert.ok(result.ok, result.ok ? "" : result.reason);
      assert.deepEqual(utf8.encode(result.text), new Uint8Array(readFileSync(new URL(name, output))));
    });
  }
});

function nested(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

class Money {
  amount = 1;
}

const refusals: ReadonlyArray<readonly [string, unknown, RegExp]> = [
  ["undefined", undefined, /^\$: undefined is not JSON$/],
  ["undefined as a property value", { intent: { amount: undefined } }, /^\$\.intent\.amount: undefined/],
  ["undefined as an array element", [1, undefined], /^\$\[1\]: undefined/],
  ["array hole", [1, , 3], /^\$: array has holes/],
  ["NaN", { intent: { amount: NaN } }, /^\$\.intent\.amount: number is not finite \(NaN\)$/],
  ["Infinity", [Infinity], /^\$\[0\]: number is not finite \(Infinity\)$/],
  ["-Infinity", -Infinity, /^\$: number is not finite \(-Infinity\)$/],
  ["bigint", { n: 1n }, /^\$\.n: bigint is not JSON$/],
  ["lone surrogate in a value", { s: "a\uD800b" }, /^\$\.s: string contains a lone surrogate$/],
  ["lone surrogate in a key", { "k\uDC00": 1 }, /^\$\["k\\udc00"\]: object key contains a lone surrogate$/],
  ["Date", { at: new Date(0) }, /^\$\.at: Date is not a plain JSON object$/],
  ["Map", new Map(), /^\$: Map is not a plain JSON object$/],
  ["class instance", { m: new Money() }, /^\$\.m: Money is not a plain JSON object$/],
  ["boxed number", { n: new Number(1) }, /^\$\.n: Number is not a plain JSON object$/],
  ["toJSON method", { x: { toJSON: () => 1 } }, /^\$\.x: object has a toJSON method$/],
  ["function", { f: () => 1 }, /^\$\.f: function is not JSON$/],
  ["symbol", [Symbol("s")], /^\$\[0\]: symbol is not JSON$/],
  ["symbol-keyed property", { [Symbol("s")]: 1 }, /^\$: symbol-keyed properties/],
  ["accessor property", Object.defineProperty({}, "g", { get: () => 1, enumerable: true }), /^\$\.g: accessor property/],
  ["depth 65", nested(65), /nesting deeper than 64$/],
];

test("refuses values that are not plain JSON, naming the path", async (t) => {
  for (const [name, value, reason] of refusals) {
    await t.test(name, () => {
      const result = canonicalJson(value);
      assert.equal(result.ok, false);
      assert.match(result.ok ? "" : result.reason, reason);
    });
  }
});

test("accepts nesting of exactly 64", () => {
  const result = canonicalJson(nested(64));
  assert.ok(result.ok);
  assert.equal(result.text, "[".repeat(64) + "0" + "]".repeat(64));
});

test("refuses a cycle without throwing", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic["self"] = cyclic;
  assert.deepEqual(canonicalJson(cyclic), { ok: false, reason: "$.self: circular reference" });
});

test("shared (non-cyclic) references are fine", () => {
  const shared = { a: 1 };
  assert.deepEqual(canonicalJson([shared, shared]), { ok: true, text: '[{"a":1},{"a":1}]' });
});

test("a Proxy that throws is refused, not thrown", () => {
  const hostile = new Proxy({}, { ownKeys: () => { throw new Error("boom"); } });
  const result = canonicalJson(hostile);
  assert.equal(result.ok, false);
  assert.match(result.ok ? "" : result.reason, /could not be read \(boom\)/);
});

test("a getter is never read, so it cannot answer differently twice", () => {
  let reads = 0;
  const sneaky = Object.defineProperty({}, "v", { get: () => ++reads, enumerable: true });
  assert.equal(canonicalJson(sneaky).ok, false);
  assert.equal(reads, 0);
});

test("null-prototype objects and __proto__ keys are plain data", () => {
  const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: 2 });
  assert.deepEqual(canonicalJson(bare), { ok: true, text: '{"a":2,"b":1}' });
  assert.deepEqual(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":0}')), { ok: true, text: '{"__proto__":{"x":1},"a":0}' });
});

test("-0 canonicalizes as 0 (RFC 8785 section 3.2.2.3)", () => {
  assert.deepEqual(canonicalJson({ z: -0 }), { ok: true, text: '{"z":0}' });
});

test("canonicalJsonTrusted returns the text and throws on a defect", () => {
  assert.equal(canonicalJsonTrusted({ b: [true, null], a: "x" }), '{"a":"x","b":[true,null]}');
  assert.throws(() => canonicalJsonTrusted({ a: undefined }), /\$\.a: undefined is not JSON/);
});

// Rebuilds every object with its keys in a seeded random order.
function shuffleKeys(value: unknown, seed: { n: number }): unknown {
  if (Array.isArray(value)) return value.map((item) => shuffleKeys(item, seed));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  for (let i = entries.length - 1; i > 0; i--) {
    seed.n = (seed.n * 1103515245 + 12345) % 2147483648;
    const j = seed.n % (i + 1);
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  // fromEntries defines own properties, so a "__proto__" key stays a key.
  return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeys(v, seed)]));
}

test("property: canonicalization is idempotent", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const first = canonicalJson(value);
      assert.ok(first.ok);
      assert.deepEqual(canonicalJson(JSON.parse(first.text)), first);
    }),
  );
});

test("property: canonicalization ignores key order", () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.nat(), (value, n) => {
      assert.deepEqual(canonicalJson(shuffleKeys(value, { n })), canonicalJson(value));
    }),
  );
});

test("property: arbitrary values never throw, and accepted ones round-trip", () => {
  const anything = fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
    withUnicodeString: true,
  });
  fc.assert(
    fc.property(anything, (value) => {
      const result = canonicalJson(value);
      if (result.ok) assert.deepEqual(canonicalJson(JSON.parse(result.text)), result);
      else assert.match(result.reason, /^\$/);
    }),
  );
});
