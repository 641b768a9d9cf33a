/**
 * Bearer credentials: named operators (contract section 9) beside the v1 unnamed
 * operator tokens and the agents, each token bound to exactly one principal.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Either, Schema } from "effect";
import { credentialsFrom, DEFAULT_OPERATOR, tokenHash, TokensFile } from "../../src/identity/Credentials.ts";

const decode = (file: unknown) => Schema.decodeUnknownEither(TokensFile)(file, { onExcessProperty: "error" });

test("a named operator's token authenticates as that operator; an agent's as its actor", () => {
  const credentials = credentialsFrom({
    operators: { "operator:alice": [tokenHash("a")], "operator:bob": [tokenHash("b1"), tokenHash("b2")] },
    agents: { "agent:desk-7": [tokenHash("d")] },
  });
  assert.deepEqual(credentials.authenticate("a"), { role: "operator", name: "operator:alice" });
  assert.deepEqual(credentials.authenticate("b2"), { role: "operator", name: "operator:bob" });
  assert.deepEqual(credentials.authenticate("d"), { role: "agent", actor: "agent:desk-7" });
  assert.equal(credentials.authenticate("x"), undefined);
  assert.deepEqual(credentials.operators, ["operator:alice", "operator:bob"]);
});

test("a v1 tokens file's operator tokens authenticate as operator:default, unless operators names the same hash", () => {
  const v1 = credentialsFrom({ operator: [tokenHash("old")], agents: {} });
  assert.deepEqual(v1.authenticate("old"), { role: "operator", name: DEFAULT_OPERATOR });
  const both = credentialsFrom({ operator: [tokenHash("a"), tokenHash("old")], operators: { "operator:alice": [tokenHash("a")] }, agents: {} });
  assert.deepEqual(both.authenticate("a"), { role: "operator", name: "operator:alice" });
  assert.deepEqual(both.authenticate("old"), { role: "operator", name: DEFAULT_OPERATOR });
  assert.deepEqual(both.operators, ["operator:alice", DEFAULT_OPERATOR]);
});

test("one token hash bound to two principals is refused", () => {
  assert.throws(() => credentialsFrom({ operators: { "operator:alice": [tokenHash("t")] }, agents: { "agent:desk-7": [tokenHash("t")] } }), /two principals/);
  assert.throws(() => credentialsFrom({ operators: { "operator:alice": [tokenHash("t")], "operator:bob": [tokenHash("t")] }, agents: {} }), /two principals/);
});

test("operator names have the form operator:<name>", () => {
  const hash = tokenHash("t");
  assert.ok(Either.isRight(decode({ operators: { "operator:carol.ops-2": [hash] }, agents: {} })));
  for (const name of ["alice", "operator:", "operator:-x", "operator:a b", `operator:${"a".repeat(65)}`, "agent:desk-7"]) {
    assert.ok(Either.isLeft(decode({ operators: { [name]: [hash] }, agents: {} })), name);
  }
});
