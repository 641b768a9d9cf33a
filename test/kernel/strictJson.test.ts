import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { MAX_BODY_DEPTH, parseStrictJson, parseStrictJsonBytes } from "../../src/kernel/strictJson.ts";

const refused = (text: string, options?: { maxDepth?: number }) => {
  const result = parseStrictJson(text, options);
  assert.ok(!result.ok, `accepted ${text.slice(0, 80)}`);
  return result.problem;
};

test("a duplicate key is refused wherever it is, also when spelled with escapes", () => {
  assert.deepEqual(refused('{"amount":"100000","amount":"1"}'), { path: "$.amount", kind: "duplicate_key", message: "the key appears more than once in its object" });
  assert.equal(refused('{"intent":{"a":1,"b":[{"x":1},{"y":2,"y":3}]}}').path, "$.intent.b[1].y");
  assert.equal(refused('{"a\\u006dount":1,"amount":2}').path, "$.amount");
  assert.equal(refused('{"":1,"":2}').path, '$[""]');
  // The same key in sibling objects is fine.
  assert.ok(parseStrictJson('[{"a":1},{"a":2}]').ok);
  assert.ok(parseStrictJson('{"a":{"a":{"a":1}}}').ok);
});

test("depth is bounded before anything is built; the root container is depth 1", () => {
  const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
  assert.ok(parseStrictJson(nested(MAX_BODY_DEPTH)).ok);
  const problem = refused(nested(MAX_BODY_DEPTH + 1));
  assert.equal(problem.kind, "depth");
  assert.equal(problem.path, `$${"[0]".repeat(MAX_BODY_DEPTH)}`);
  assert.equal(refused('{"intent":{"x":{"y":1}}}', { maxDepth: 2 }).path, "$.intent.x");
  // 100,000 levels: refused at once, no stack overflow.
  assert.equal(refused(`{"a":${nested(100_000)}}`).kind, "depth");
});

test("__proto__ is refused as a key, anywhere", () => {
  assert.deepEqual(refused('{"intent":{"__proto__":{"amount":"1"}}}').path, "$.intent.__proto__");
  assert.equal(refused('{"__pro\\u0074o__":1}').kind, "forbidden_key");
  assert.ok(parseStrictJson('{"note":"__proto__"}').ok, "as a value it is only text");
});

test("syntax errors, bad UTF-8 and odd keys answer without echoing the body", () => {
  for (const text of ['{"signature":"ed25519:SECRET"', "{'a':1}", '{"a":1}x', "", '"unterminated']) {
    const problem = refused(text);
    assert.equal(problem.kind, "json");
    assert.doesNotMatch(JSON.stringify(problem), /SECRET/);
  }
  const notUtf8 = parseStrictJsonBytes(new Uint8Array([0x7b, 0xff, 0x7d]));
  assert.ok(!notUtf8.ok && notUtf8.problem.kind === "json");
  const withBom = parseStrictJsonBytes(new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"a":1}')]));
  assert.ok(withBom.ok, "a leading BOM is ignored");
  const longKey = "k".repeat(500);
  const problem = refused(`{"${longKey}":1,"${longKey}":2}`);
  assert.ok(problem.path.length < 100, problem.path);
  assert.equal(refused('{"a\\nb":1,"a\\nb":2}').path, '$["a\\nb"]');
});

test("property: whatever JSON.stringify writes is read back equal, and a repeated key is always found", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
      const text = JSON.stringify(value);
      const result = parseStrictJson(text);
      if (text.includes('"__proto__"')) return;
      assert.ok(result.ok, text);
      assert.deepEqual(result.value, JSON.parse(text));
    }),
  );
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1 }), fc.nat(), (object, pick) => {
      const keys = Object.keys(object);
      // A "__proto__" key anywhere (nested values included) is refused before the repeat is reached.
      fc.pre(!JSON.stringify(object).includes('"__proto__"'));
      const key = keys[pick % keys.length]!;
      const text = `${JSON.stringify(object).slice(0, -1)},${JSON.stringify(key)}:0}`;
      const problem = refused(text);
      assert.equal(problem.kind, "duplicate_key");
    }),
  );
});

test("property: arbitrary text never throws", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
      parseStrictJson(text);
    }),
  );
});
