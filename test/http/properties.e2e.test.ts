/**
 * Property tests of `POST /actions` through the full in-process stack: valid swap, quote
 * and shell bodies (with real permits) are mutated at the object and at the byte level,
 * and arbitrary bytes are posted with every kind of token. Whatever arrives:
 *   - the answer is 200, 400, 403 or 413, or 503 with audit_unavailable/policy_unavailable;
 *   - a denial carries a contract reason with its status, and the receipt recomputes;
 *   - exactly one ActionDecided event is recorded per call, with the answer's decision_id;
 *   - nothing is allowed that the policy and an untampered, unspent permit do not allow.
 * The seed is fixed so a run is reproducible; set ZT_PROPERTY_SEED to explore others.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import fc from "fast-check";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import { EventStore, type RecordedEvent } from "../../src/events/EventStore.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { randomSeed, readSigningKey, signingKeyFromSeed } from "../../src/identity/KeyFile.ts";
import type { Permit } from "../../src/vocabulary/Permit.ts";
import { signPermit } from "../../src/permits/issuePermit.ts";
import { EXAMPLE_POLICY_DIR, makeHarness, SEED_CONSTRAINTS, type Harness, type Reply } from "../support/harness.ts";
import { assertDecisionShape, CONTRACT_DENY_STATUS, intentHashOf } from "./decisionAssertions.ts";

const SEED = Number(process.env["ZT_PROPERTY_SEED"] ?? 20260223);
const MAX_BODY = 64 * 1024;
const PRICES: Record<string, number> = { SOL: 142.1, USDC: 1 };
const NONCE_CONSUMED = "NonceConsumed.v1";
const REQUIRED_SWAP_CONSTRAINTS = ["max_notional_usd", "max_slippage_bps", "protocol_allowlist"] as const;

// --- the model of what may be allowed ---------------------------------------------------

type Role = "desk7" | "ops1" | "operator";
const ACTOR_OF: Record<Role, string | null> = { desk7: "agent:desk-7", ops1: "agent:ops-1", operator: null };

interface World {
  readonly h: Harness;
  /** Every permit the service issued in this file, by permit_id. */
  readonly issued: Map<string, Permit>;
  /** Nonces spent by an allowed decision. */
  readonly spent: Set<string>;
  cursor: number;
  snapshotAt: number;
}

/** What the service parses, mirrored: UTF-8 (a BOM is dropped), JSON, then JCS-representable. */
function clientView(bytes: Uint8Array): { readonly ok: true; readonly value: any } | { readonly ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { ok: false };
  }
  const representable = (v: unknown): boolean => {
    if (typeof v === "number") return Number.isFinite(v);
    if (typeof v === "string") return v.isWellFormed();
    if (Array.isArray(v)) return v.every(representable);
    if (typeof v === "object" && v !== null) return Object.entries(v).every(([k, item]) => k.isWellFormed() && representable(item));
    return true;
  };
  return representable(value) ? { ok: true, value } : { ok: false };
}

const isObject = (v: unknown): v is Record<string, any> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Why the oracle holds that this parsed request must not be allowed, or null if it may be. */
function mustNotBeAllowed(world: World, role: Role, request: Record<string, any>): string | null {
  const actor = ACTOR_OF[role];
  if (actor === null) return "the operator may not act";
  if (request["actor"] !== actor) return "body actor is not the token's actor";
  const { action, resource, permit, intent, execute } = request;
  if (typeof resource !== "string") return "no resource";
  if (permit !== undefined) {
    const known = isObject(permit) ? world.issued.get(permit["permit_id"]) : undefined;
    if (known === undefined) return "permit was not issued by this service";
    if (!isDeepStrictEqual(permit, known)) return "permit was tampered with";
    if (world.spent.has(known.nonce)) return "permit nonce already spent";
    if (known.subject !== actor || known.scope !== action) return "permit is for another subject or scope";
  }
  if (action === "swap.execute") {
    if (actor !== "agent:desk-7" || !resource.startsWith("solana:mainnet/")) return "policy does not permit this swap";
    if (execute !== undefined) return "no broker rule for swaps";
    if (permit === undefined) return "swap without a permit";
    const constraints = world.issued.get(permit["permit_id"])?.constraints ?? {};
    if (REQUIRED_SWAP_CONSTRAINTS.some((name) => constraints[name] === undefined)) return "the permit lacks a constraint the policy requires";
    const resourceProtocol = resource.split("/")[1];
    if (!constraints.protocol_allowlist!.includes(resourceProtocol!)) return "the resource's protocol is not allowed";
    if (intent?.protocol !== resourceProtocol) return "the intent names another protocol than the resource";
    if (constraints.max_slippage_bps !== undefined && !(Number.isInteger(intent?.slippage_bps) && intent.slippage_bps <= constraints.max_slippage_bps)) {
      return "slippage over the limit or missing";
    }
    if (constraints.max_notional_usd !== undefined) {
      const price = PRICES[intent?.asset];
      if (price === undefined) return "no price for the asset";
      const amount = Number(intent?.amount);
      if (!(amount >= 0) || amount * price > constraints.max_notional_usd * (1 + 1e-9)) return "notional over the limit or unknown";
    }
    return null;
  }
  if (action === "quote.read") {
    if (actor !== "agent:desk-7" || !resource.startsWith("solana:mainnet/")) return "policy does not permit this quote";
    if (execute !== undefined) return "no broker rule for quotes";
    if (permit !== undefined) return "no valid quote.read permit exists";
    return null;
  }
  if (action === "shell.exec") {
    if (actor !== "agent:ops-1" || resource !== "host:sandbox") return "policy does not permit this command";
    if (permit !== undefined) return "no valid shell.exec permit exists";
    if (execute === undefined) return null;
    if (execute.network === true) return "network access is not allowed";
    if (execute.broker === "bwrap") return null;
    if (execute.broker === "docker" && execute.image === "zt-busybox:local") return null;
    return "broker or image not allowed";
  }
  return "no policy for this action";
}

function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

async function eventsSince(world: World): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (;;) {
    const page = await world.h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readAll({ after: world.cursor, limit: 1000 })));
    const last = page.at(-1);
    if (last === undefined) return out;
    out.push(...page);
    world.cursor = last.position;
  }
}

/** Every invariant of one call; updates the spent nonces. `malformedBecause`: the body breaks a rule the client knows of (a duplicate key). */
async function checkCall(world: World, role: Role, bytes: Uint8Array, reply: Reply, malformedBecause?: string): Promise<void> {
  const events = await eventsSince(world);
  const decided = events.filter((e) => e.type === ACTION_DECIDED);
  const consumed = events.filter((e) => e.type === NONCE_CONSUMED);
  const body = reply.json;
  assert.ok(isObject(body), `a JSON object answers: ${reply.status} ${reply.text.slice(0, 200)}`);

  // The only 5xx the contract allows is a fail-closed 503. The store here is healthy, so
  // audit_unavailable would mean a request the service could not record: a failure too.
  if (reply.status >= 500) {
    assert.equal(reply.status, 503, reply.text.slice(0, 300));
    assert.equal(body["status"], "denied");
    assert.ok(body["reason"] === "audit_unavailable" || body["reason"] === "policy_unavailable", reply.text);
    assert.notEqual(body["reason"], "audit_unavailable", `a healthy store could not record: ${new TextDecoder().decode(bytes).slice(0, 400)}`);
  }
  assert.ok([200, 400, 403, 413, 503].includes(reply.status), `unexpected status ${reply.status}: ${reply.text.slice(0, 300)}`);
  assertDecisionShape(body);

  // Recorded exactly once, as answered.
  assert.equal(decided.length, 1, `one ActionDecided per call, got ${decided.length}`);
  const event = decided[0] as RecordedEvent;
  assert.equal(event.data["decision_id"], body["decision_id"]);
  assert.equal(event.data["status"], body["status"]);
  assert.equal(event.data["reason"], body["reason"]);
  assert.equal(event.data["receipt_hash"], body["receipt_hash"]);
  assert.equal(event.data["http_status"], reply.status);

  if (body["status"] === "denied") {
    const reason = body["reason"];
    assert.ok(typeof reason === "string" && reason in CONTRACT_DENY_STATUS, `contract reason: ${String(reason)}`);
    const expected = reason === "malformed_request" && bytes.length > MAX_BODY ? 413 : CONTRACT_DENY_STATUS[reason];
    assert.equal(reply.status, expected, reply.text);
    assert.equal(body["invariant_checks"].at(-1).ok, false);
    assert.equal(consumed.length, 0, "a denial spends no nonce");
  } else {
    assert.equal(reply.status, 200);
    assert.equal(body["reason"], null);
    assert.ok(body["invariant_checks"].every((c: { ok: boolean }) => c.ok));
  }

  const view = clientView(bytes);
  if (bytes.length > MAX_BODY) {
    assert.equal(reply.status, 413);
    assert.equal(body["reason"], "malformed_request");
    return;
  }
  if (!view.ok) {
    assert.equal(body["reason"], "malformed_request", "not UTF-8 JSON, or JSON that JCS cannot represent");
    return;
  }
  if (malformedBecause !== undefined) {
    assert.equal(body["reason"], "malformed_request", malformedBecause);
    return;
  }
  if (body["reason"] === "malformed_request") return;

  const request = view.value as Record<string, any>;
  assert.ok(isObject(request));
  assert.equal(body["intent_hash"], request["intent"] === undefined ? null : intentHashOf(request["intent"]));
  const actor = ACTOR_OF[role];
  if (actor === null || request["actor"] !== actor) assert.equal(body["reason"], "actor_mismatch");
  else assert.notEqual(body["reason"], "actor_mismatch");

  if (body["status"] === "allowed") {
    const why = mustNotBeAllowed(world, role, request);
    assert.equal(why, null, `allowed although ${why}: ${new TextDecoder().decode(bytes).slice(0, 400)}`);
    const permit = request["permit"];
    assert.equal(body["permit_id"], permit?.permit_id ?? null);
    assert.equal(consumed.length, permit === undefined ? 0 : 1);
    if (permit !== undefined) {
      assert.equal(consumed[0]?.data["nonce"], permit.nonce);
      assert.equal(consumed[0]?.data["decision_id"], body["decision_id"]);
      world.spent.add(permit.nonce);
    }
  }
}

async function send(world: World, role: Role, bytes: Uint8Array): Promise<Reply> {
  return world.h.request("POST", "/actions", { token: world.h.tokens[role], body: bytes });
}

async function keepSnapshotFresh(world: World): Promise<void> {
  if (Date.now() - world.snapshotAt < 20_000) return;
  const reply = await world.h.putSnapshot(PRICES);
  assert.equal(reply.status, 200);
  world.snapshotAt = Date.now();
}

// --- generators -------------------------------------------------------------------------------

type Base = "swap" | "quote" | "shellDocker" | "shellBwrap";
const OWN_ROLE: Record<Base, Role> = { swap: "desk7", quote: "desk7", shellDocker: "ops1", shellBwrap: "ops1" };

function baseBody(base: Base): Record<string, unknown> {
  switch (base) {
    case "swap":
      return {
        actor: "agent:desk-7",
        action: "swap.execute",
        resource: "solana:mainnet/jupiter",
        intent: { protocol: "jupiter", asset: "SOL", amount: "12.5", slippage_bps: 30 },
      };
    case "quote":
      return { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x", context: { venue: "jupiter" } };
    case "shellDocker":
      return { actor: "agent:ops-1", action: "shell.exec", resource: "host:sandbox", execute: { broker: "docker", image: "zt-busybox:local", command: ["echo", "hi"] } };
    case "shellBwrap":
      return { actor: "agent:ops-1", action: "shell.exec", resource: "host:sandbox", execute: { broker: "bwrap", command: ["echo", "hi"], timeout_ms: 5000 } };
  }
}

const SPECIAL_VALUES: unknown[] = [
  "", " ", "\u0000", "agent:desk-7", "agent:ops-1", "swap.execute", "quote.read", "shell.exec", "solana:mainnet/jupiter",
  "solana:devnet/x", "host:sandbox", "docker", "bwrap", "nono", "zt-busybox:local", "é😀", "x".repeat(300), "x".repeat(5000),
  0, -1, 1.5, 2 ** 53, -(2 ** 53), 1e308, 5e-324, true, false, null, [], {}, [[[]]], { a: { b: { c: {} } } }, { __entity: { type: "Agent", id: "agent:desk-7" } },
];
const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(...SPECIAL_VALUES),
  fc.string({ unit: "binary", maxLength: 16 }),
);

/** Mostly values the schema accepts (so the later checks are reached), sometimes ones it refuses. */
const mostly = <T>(valid: ReadonlyArray<T>, invalid: ReadonlyArray<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 12 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });

const intentPatch = fc.record(
  {
    protocol: mostly(["jupiter", "orca", "uniswap", "JUPITER"], ["", 5, null]),
    asset: mostly(["SOL", "USDC", "BONK", "sol"], ["", null]),
    amount: mostly(["12.5", "70.37", "70.38", "1000", "0", "0.0", "12.50000000000000000001", "9".repeat(60), "0.".padEnd(62, "0") + "1", 12.5, 0, 70.38, 1e308, 5e-324, 1e21, 2 ** 53 + 2, 1e-7], ["-1", "1e3", "12.", ".5", -3]),
    slippage_bps: mostly([0, 30, 40, 41, 50, 10000], [-1, 10001, 1.5, "30"]),
    memo: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

const PERMIT_FIELDS = ["permit_id", "subject", "scope", "policy_id", "constraints", "issued_at", "expires_at", "nonce", "key_id", "signature"] as const;

type ObjectMutation =
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "set"; readonly at: number; readonly value: unknown }
  | { readonly kind: "add"; readonly at: number; readonly key: string; readonly value: unknown }
  | { readonly kind: "context"; readonly value: unknown }
  | { readonly kind: "intent"; readonly patch: Record<string, unknown> }
  | { readonly kind: "permitField"; readonly field: (typeof PERMIT_FIELDS)[number]; readonly value: unknown }
  | { readonly kind: "flipSignature"; readonly at: number; readonly char: string }
  | { readonly kind: "top"; readonly field: "actor" | "action" | "resource"; readonly value: string }
  | { readonly kind: "execute"; readonly value: unknown }
  | { readonly kind: "protoKey"; readonly target: "" | "intent" | "execute" | "context" | "permit" | "permit.constraints"; readonly value: unknown };

const objectMutation: fc.Arbitrary<ObjectMutation> = fc.oneof(
  // An own "__proto__" key, as JSON.parse makes it, holding fields that must not count.
  fc.record({
    kind: fc.constant("protoKey" as const),
    target: fc.constantFrom("intent" as const, "intent" as const, "intent" as const, "" as const, "execute" as const, "context" as const, "permit" as const, "permit.constraints" as const),
    value: fc.oneof(intentPatch, fc.constantFrom<unknown>({ network: true }, { max_notional_usd: 1e12 }, {}, { subject: "agent:desk-7" })),
  }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: junkValue }),
  fc.record({ kind: fc.constant("add" as const), at: fc.nat(), key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("constructor", "toString", "__proto__", "__entity", "__extn", "permit", "actor")), value: junkValue }),
  fc.record({ kind: fc.constant("context" as const), value: fc.oneof(fc.jsonValue({ maxDepth: 10 }), fc.dictionary(fc.string({ maxLength: 6 }), junkValue, { maxKeys: 5 })) }),
  { arbitrary: fc.record({ kind: fc.constant("intent" as const), patch: intentPatch }), weight: 4 },
  fc.record({ kind: fc.constant("permitField" as const), field: fc.constantFrom(...PERMIT_FIELDS), value: junkValue }),
  {
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant("permitField" as const), field: fc.constant("subject" as const), value: fc.constantFrom("agent:ops-1", "agent:desk-8") }),
      fc.record({ kind: fc.constant("permitField" as const), field: fc.constant("scope" as const), value: fc.constantFrom("quote.read", "shell.exec") }),
      fc.record({ kind: fc.constant("permitField" as const), field: fc.constant("policy_id" as const), value: fc.constantFrom("policy_other") }),
      fc.record({ kind: fc.constant("permitField" as const), field: fc.constant("key_id" as const), value: fc.constantFrom("zt-0000000000000000") }),
      fc.record({ kind: fc.constant("permitField" as const), field: fc.constant("nonce" as const), value: fc.uuid({ version: 4 }) }),
      fc.record({
        kind: fc.constant("permitField" as const),
        field: fc.constantFrom("issued_at" as const, "expires_at" as const),
        value: fc.constantFrom("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", new Date(Date.now() + 3600_000).toISOString()),
      }),
      fc.record({
        kind: fc.constant("permitField" as const),
        field: fc.constant("constraints" as const),
        value: fc.constantFrom({ max_notional_usd: 1e9, max_slippage_bps: 40, protocol_allowlist: ["jupiter"] }, {}, { ...SEED_CONSTRAINTS, max_slippage_bps: 10000 }),
      }),
    ),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant("flipSignature" as const), at: fc.nat(), char: fc.constantFrom("A", "B", "_", "-", "0", "z") }), weight: 2 },
  fc.record({
    kind: fc.constant("top" as const),
    field: fc.constantFrom("actor" as const, "action" as const, "resource" as const),
    value: fc.oneof(
      fc.constantFrom("agent:desk-7", "agent:ops-1", "swap.execute", "quote.read", "shell.exec", "solana:mainnet/", "solana:mainnet/raydium", "solana:mainnet/uniswap", "solana:mainnet/jupiter/v6", "solana:devnet/x", "host:sandbox", "host:prod"),
      fc.string({ maxLength: 12 }),
    ),
  }),
  fc.record({
    kind: fc.constant("execute" as const),
    value: fc.oneof(
      fc.record(
        {
          broker: fc.constantFrom<unknown>("docker", "bwrap", "nono", "podman", 1),
          image: fc.constantFrom<unknown>("zt-busybox:local", "busybox:latest", "zt-busybox:local ", ""),
          command: fc.constantFrom<unknown>(["echo", "hi"], [], "echo hi", [1]),
          network: fc.constantFrom<unknown>(true, false, "true"),
          timeout_ms: fc.constantFrom<unknown>(1, 5000, 0, 300_001, 1.5),
        },
        { requiredKeys: ["broker", "command"] },
      ),
      junkValue,
    ),
  }),
);

type TextMutation =
  | { readonly kind: "number"; readonly at: number; readonly literal: string }
  | { readonly kind: "surrogate"; readonly at: number; readonly escape: string }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "duplicateKey"; readonly key: string; readonly valueJson: string }
  | { readonly kind: "insert"; readonly at: number; readonly junk: string }
  | { readonly kind: "trailing"; readonly junk: string }
  | { readonly kind: "bytes"; readonly bytes: Uint8Array }
  | { readonly kind: "bom" }
  | { readonly kind: "pad"; readonly target: number };

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("number" as const),
      at: fc.nat(),
      literal: fc.constantFrom("1e400", "-1e400", "1E400", "1e-400", "123456789012345678901234567890", "9007199254740993", "-0", "0.1e1", "1.0", "01", "NaN", "Infinity"),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ kind: fc.constant("surrogate" as const), at: fc.nat(), escape: fc.constantFrom("\\ud800", "\\udfff", "\\ud83d", "\\ud800\\ud800", "\\ud83d\\ude00", "\\u0000", "\\\\ud800") }),
    weight: 3,
  },
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("duplicateKey" as const),
    key: fc.constantFrom("actor", "action", "resource", "permit", "intent", "context", "execute"),
    valueJson: fc.constantFrom('"agent:desk-7"', '"agent:ops-1"', '"swap.execute"', '"solana:mainnet/x"', "null", "{}", "[]", "1e400", '"\\ud800"'),
  }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), junk: fc.constantFrom(",", "}", "{", "]", '"', "\\", "\u0000", "\uFEFF", " ", "//", "'") }),
  fc.record({ kind: fc.constant("trailing" as const), junk: fc.constantFrom("}", " x", "\n", "{}", "\u0000", " ") }),
  fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ kind: fc.constant("bom" as const) }),
  fc.record({ kind: fc.constant("pad" as const), target: fc.constantFrom(MAX_BODY - 1, MAX_BODY, MAX_BODY + 1, MAX_BODY + 4096) }),
);

type PermitChoice = "fresh" | "freshPartial" | "reuse" | "reuseSpent" | "stranger" | "none";

interface Plan {
  readonly base: Base;
  readonly role: "own" | Role;
  readonly permit: PermitChoice;
  readonly reuseIndex: number;
  readonly objectMutations: ReadonlyArray<ObjectMutation>;
  readonly textMutation: TextMutation | null;
}

const plan: fc.Arbitrary<Plan> = fc.record({
  base: fc.constantFrom<Base>("swap", "swap", "swap", "quote", "shellDocker", "shellBwrap"),
  role: fc.oneof({ arbitrary: fc.constant("own" as const), weight: 8 }, fc.constantFrom<Role>("desk7", "ops1", "operator")),
  permit: fc.oneof(
    { arbitrary: fc.constant<PermitChoice>("fresh"), weight: 5 },
    fc.constantFrom<PermitChoice>("freshPartial", "reuse", "reuseSpent", "stranger", "none"),
  ),
  reuseIndex: fc.nat(),
  objectMutations: fc.array(objectMutation, { maxLength: 3 }),
  textMutation: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: textMutation, weight: 1 }),
});

// --- applying a plan --------------------------------------------------------------------------------

type Path = ReadonlyArray<string | number>;

function nodePaths(value: unknown, prefix: Path = []): Path[] {
  if (typeof value !== "object" || value === null) return [];
  const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...nodePaths(child, [...prefix, key])]);
}

function containerAt(root: any, path: Path): any {
  return path.reduce((node, key) => node?.[key], root);
}

function applyObjectMutation(body: Record<string, any>, mutation: ObjectMutation): void {
  const pick = <T>(items: ReadonlyArray<T>, at: number): T | undefined => items[at % Math.max(1, items.length)];
  switch (mutation.kind) {
    case "delete":
    case "set": {
      const path = pick(nodePaths(body), mutation.at);
      if (path === undefined) return;
      const parent = containerAt(body, path.slice(0, -1));
      const key = path.at(-1) as string | number;
      if (mutation.kind === "set") parent[key] = structuredClone(mutation.value);
      else if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      return;
    }
    case "add": {
      const containers = [[], ...nodePaths(body)].filter((p) => isObject(containerAt(body, p)));
      const target = containerAt(body, pick(containers, mutation.at) ?? []);
      Object.defineProperty(target, mutation.key, { value: structuredClone(mutation.value), enumerable: true, writable: true, configurable: true });
      return;
    }
    case "context":
      body["context"] = structuredClone(mutation.value);
      return;
    case "intent":
      body["intent"] = { ...(isObject(body["intent"]) ? body["intent"] : {}), ...structuredClone(mutation.patch) };
      return;
    case "permitField":
      if (isObject(body["permit"])) body["permit"][mutation.field] = structuredClone(mutation.value);
      return;
    case "flipSignature": {
      const permit = body["permit"];
      if (!isObject(permit) || typeof permit["signature"] !== "string") return;
      const signature: string = permit["signature"];
      const index = "ed25519:".length + (mutation.at % Math.max(1, signature.length - "ed25519:".length));
      const replacement = signature[index] === mutation.char ? (mutation.char === "A" ? "B" : "A") : mutation.char;
      permit["signature"] = signature.slice(0, index) + replacement + signature.slice(index + 1);
      return;
    }
    case "top":
      body[mutation.field] = mutation.value;
      return;
    case "execute":
      body["execute"] = structuredClone(mutation.value);
      return;
    case "protoKey": {
      const target = mutation.target === "" ? body : containerAt(body, mutation.target.split("."));
      if (!isObject(target)) return;
      Object.defineProperty(target, "__proto__", { value: structuredClone(mutation.value), enumerable: true, writable: true, configurable: true });
      return;
    }
  }
}

function applyTextMutation(text: string, mutation: TextMutation): Uint8Array {
  const encode = (t: string) => new TextEncoder().encode(t);
  const nth = (regex: RegExp, at: number): RegExpExecArray | undefined => {
    const matches = [...text.matchAll(regex)];
    return matches[at % Math.max(1, matches.length)];
  };
  switch (mutation.kind) {
    case "number": {
      const match = nth(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, mutation.at);
      if (match === undefined) return encode(text);
      return encode(text.slice(0, match.index) + mutation.literal + text.slice(match.index + match[0].length));
    }
    case "surrogate": {
      const match = nth(/"(?:[^"\\]|\\.)*"/g, mutation.at);
      if (match === undefined) return encode(text);
      return encode(text.slice(0, match.index + 1) + mutation.escape + text.slice(match.index + 1));
    }
    case "truncate":
      return encode(text.slice(0, mutation.at % Math.max(1, text.length)));
    case "duplicateKey":
      return encode(`{"${mutation.key}":${mutation.valueJson},${text.slice(1)}`);
    case "insert": {
      const at = mutation.at % (text.length + 1);
      return encode(text.slice(0, at) + mutation.junk + text.slice(at));
    }
    case "trailing":
      return encode(text + mutation.junk);
    case "bytes":
      return mutation.bytes;
    case "bom":
      return encode(`\uFEFF${text}`);
    case "pad": {
      const missing = mutation.target - encode(text).length;
      return encode(missing > 0 ? `{${" ".repeat(missing)}${text.slice(1)}` : text);
    }
  }
}

const strangerKey = signingKeyFromSeed(randomSeed(), "permit");

async function permitFor(world: World, choice: PermitChoice, reuseIndex: number): Promise<Permit | undefined> {
  switch (choice) {
    case "none":
      return undefined;
    case "fresh": {
      const permit = await world.h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
      world.issued.set(permit.permit_id, permit);
      return permit;
    }
    case "freshPartial": {
      // The service refuses to issue a permit without the constraints its policy requires,
      // so this one is signed with the service's own issuer key, as a leaked key could sign it.
      const permit = signPermit({
        subject: "agent:desk-7",
        scope: "swap.execute",
        policyId: "policy_mainnet_v1",
        constraints: { max_slippage_bps: 40 },
        now: Date.now(),
        ttlSeconds: 60,
        permitId: `permit_partial_${randomUUID()}`,
        nonce: randomUUID(),
        key: readSigningKey(join(world.h.dataDir, "keys", "issuer.key.json")),
      });
      world.issued.set(permit.permit_id, permit);
      return permit;
    }
    case "reuse":
    case "reuseSpent": {
      const all = [...world.issued.values()].filter((p) => choice === "reuse" || world.spent.has(p.nonce));
      return all.length === 0 ? undefined : all[reuseIndex % all.length];
    }
    case "stranger":
      return signPermit({
        subject: "agent:desk-7",
        scope: "swap.execute",
        policyId: "policy_mainnet_v1",
        constraints: SEED_CONSTRAINTS,
        now: Date.now(),
        ttlSeconds: 60,
        permitId: `permit_stranger_${randomUUID()}`,
        nonce: randomUUID(),
        key: strangerKey,
      });
  }
}

async function runPlan(world: World, p: Plan): Promise<Reply> {
  await keepSnapshotFresh(world);
  const body = baseBody(p.base);
  const permit = await permitFor(world, p.permit, p.reuseIndex);
  if (permit !== undefined) body["permit"] = structuredClone(permit);
  for (const mutation of p.objectMutations) applyObjectMutation(body, mutation);
  const text = JSON.stringify(body);
  const bytes = p.textMutation === null ? new TextEncoder().encode(text) : applyTextMutation(text, p.textMutation);
  const role = p.role === "own" ? OWN_ROLE[p.base] : p.role;
  await eventsSince(world); // start from here: permits and snapshots above are not this call's events
  const reply = await send(world, role, bytes);
  await checkCall(world, role, bytes, reply, p.textMutation?.kind === "duplicateKey" ? "a key appears twice in the body" : undefined);
  return reply;
}

// --- the properties ---------------------------------------------------------------------------------

describe("POST /actions properties", () => {
  let world: World;
  before(async () => {
    const h = await makeHarness();
    world = { h, issued: new Map(), spent: new Set(), cursor: 0, snapshotAt: 0 };
  });
  after(() => world.h.close());

  test("the unmutated bodies are allowed (the generators start from valid requests)", async () => {
    for (const base of ["swap", "quote", "shellDocker", "shellBwrap"] as const) {
      await runPlan(world, { base, role: "own", permit: base === "swap" ? "fresh" : "none", reuseIndex: 0, objectMutations: [], textMutation: null });
    }
    const outcomes = (await world.h.decisionEvents()).slice(-4).map((event) => event.data["reason"] ?? event.data["status"]);
    // The Docker image runs only pinned: `npm run sandbox:image` writes the pin (images.lock.json).
    const dockerOutcome = existsSync(join(EXAMPLE_POLICY_DIR, "images.lock.json")) ? "allowed" : "image_not_allowed";
    assert.deepEqual(outcomes, ["allowed", "allowed", dockerOutcome, "allowed"]);
  });

  test("mutated bodies: contract statuses and reasons, one event each, nothing allowed beyond policy and permit", async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(plan, async (p) => {
        const before = world.spent.size;
        const reply = await runPlan(world, p);
        const outcome = String(reply.json.reason ?? reply.json.status);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        assert.ok(world.spent.size - before <= 1);
      }),
      { numRuns: 300, seed: SEED, endOnFailure: true },
    );
    // The generators must get past the schema to allowed answers and to many kinds of
    // denial, or the property says little.
    const seen = JSON.stringify(Object.fromEntries(outcomes));
    assert.ok((outcomes.get("allowed") ?? 0) >= 10, seen);
    assert.ok(outcomes.size >= 10, seen);
    assert.ok((outcomes.get("malformed_request") ?? 0) < 240, seen);
  });

  test("arbitrary bytes and JSON with any token: recorded, never allowed, never a 5xx", async () => {
    const arbitraryBody = fc.oneof(
      fc.uint8Array({ maxLength: 256 }),
      fc.jsonValue({ maxDepth: 4 }).map((v) => new TextEncoder().encode(JSON.stringify(v))),
      fc.string({ unit: "binary", maxLength: 64 }).map((s) => new TextEncoder().encode(s)),
      fc.constantFrom("", "null", "[]", "{}", '"x"', "1e400", '{"actor":"agent:desk-7"}', '{"__proto__":{}}', "[".repeat(5000)).map((s) => new TextEncoder().encode(s)),
    );
    await fc.assert(
      fc.asyncProperty(arbitraryBody, fc.constantFrom<Role>("desk7", "ops1", "operator"), async (bytes, role) => {
        await eventsSince(world);
        const reply = await send(world, role, bytes);
        await checkCall(world, role, bytes, reply);
        assert.notEqual(reply.json.status, "allowed");
      }),
      { numRuns: 150, seed: SEED, endOnFailure: true },
    );
  });

  test("concurrent uses of one permit with mixed intents: at most one allowed, exactly one nonce consumed when one is", async () => {
    const good = { protocol: "jupiter", asset: "SOL", amount: "12.5", slippage_bps: 30 };
    const intent = fc.constantFrom<Record<string, unknown>>(
      good,
      { ...good, amount: "70.37" },
      { ...good, slippage_bps: 41 },
      { ...good, protocol: "uniswap" },
      { ...good, asset: "BONK" },
      { ...good, amount: "1000" },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(intent, { minLength: 2, maxLength: 8 }), async (intents) => {
        await keepSnapshotFresh(world);
        const permit = await world.h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
        world.issued.set(permit.permit_id, permit);
        await eventsSince(world);
        const replies = await Promise.all(
          intents.map((i) =>
            world.h.request("POST", "/actions", {
              token: world.h.tokens.desk7,
              json: { actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", intent: i, permit },
            }),
          ),
        );
        const events = await eventsSince(world);
        const decided = events.filter((e) => e.type === ACTION_DECIDED);
        const consumed = events.filter((e) => e.type === NONCE_CONSUMED);
        assert.equal(decided.length, intents.length);
        assert.deepEqual(new Set(decided.map((e) => e.data["decision_id"])), new Set(replies.map((r) => r.json.decision_id)));
        const allowed = replies.filter((r) => r.json.status === "allowed");
        const anyGood = intents.some((i) => i === good || i["amount"] === "70.37");
        assert.equal(allowed.length, anyGood ? 1 : 0, JSON.stringify(replies.map((r) => r.json.reason)));
        assert.equal(consumed.length, allowed.length);
        replies.forEach((reply, index) => {
          assertDecisionShape(reply.json);
          if (reply.json.status === "allowed") return;
          const isGood = intents[index] === good || intents[index]?.["amount"] === "70.37";
          if (isGood) assert.equal(reply.json.reason, "nonce_replay_detected");
          else assert.ok(["nonce_replay_detected", "protocol_not_allowed", "max_slippage_exceeded", "market_price_unknown", "max_notional_exceeded"].includes(reply.json.reason));
        });
      }),
      { numRuns: 25, seed: SEED, endOnFailure: true },
    );
  });
});
