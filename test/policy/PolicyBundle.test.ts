import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import canonicalize from "canonicalize";
import { Either } from "effect";
import { CEDAR_ANSWER_CACHE_SIZE, compilePolicyBundle, type BundleFile, type PolicyBundle } from "../../src/policy/PolicyBundle.ts";

const POLICY_DIR = fileURLToPath(new URL("../../policies/", import.meta.url));

function exampleFiles(): BundleFile[] {
  return readdirSync(POLICY_DIR)
    .sort()
    .map((name) => ({ path: name, bytes: new Uint8Array(readFileSync(join(POLICY_DIR, name))) }));
}

function replaceFile(files: BundleFile[], path: string, text: string): BundleFile[] {
  return [...files.filter((f) => f.path !== path), { path, bytes: new TextEncoder().encode(text) }];
}

function compileOk(files: BundleFile[]): PolicyBundle {
  const result = compilePolicyBundle(files);
  if (Either.isLeft(result)) assert.fail(`bundle should compile: ${JSON.stringify(result.left)}`);
  return result.right;
}

function problemsOf(files: BundleFile[]) {
  const result = compilePolicyBundle(files);
  if (Either.isRight(result)) assert.fail("bundle should not compile");
  return result.left;
}

describe("the example bundle", () => {
  const bundle = compileOk(exampleFiles());

  test("is policy_mainnet_v1 and its policy_hash is the sha256 of the JCS of its file hashes", () => {
    assert.equal(bundle.policyId, "policy_mainnet_v1");
    const fileHashes: Record<string, string> = {};
    for (const name of readdirSync(POLICY_DIR)) {
      fileHashes[name] = createHash("sha256").update(readFileSync(join(POLICY_DIR, name))).digest("hex");
    }
    const expected = createHash("sha256").update(canonicalize(fileHashes) ?? "").digest("hex");
    assert.equal(bundle.policyHash, expected);
    // images.lock.json is there once `npm run sandbox:image` has pinned the example image.
    assert.deepEqual(
      Object.keys(bundle.files).filter((name) => name !== "images.lock.json").sort(),
      ["desk-7.cedar", "mcp.cedar", "mcp.json", "ops-1.cedar", "policy.json", "schema.cedarschema"],
    );
  });

  test("policy ids come from @id annotations", () => {
    assert.deepEqual([...bundle.cedarPolicyIds].sort(), [
      "desk7-fs-allowed-directories",
      "desk7-fs-read-public",
      "desk7-quote-solana-mainnet",
      "desk7-swap-solana-mainnet",
      "ops1-everything",
      "ops1-shell-sandbox",
    ]);
  });

  test("mcp.json names the fs and everything servers, sandboxed by bwrap with the defaults filled in", () => {
    assert.deepEqual(Object.keys(bundle.mcp.servers).sort(), ["everything", "fs"]);
    const fs = bundle.mcp.servers["fs"]!;
    assert.equal(fs.transport, "stdio");
    assert.ok(fs.transport === "stdio" && fs.sandbox === "bwrap" && fs.network === false && fs.timeout_ms === 600_000);
    assert.deepEqual(fs.transport === "stdio" && fs.path_arguments, ["path", "paths", "source", "destination"]);
  });

  const mcpCases: Array<[string, string, string, Record<string, unknown>, boolean]> = [
    ["agent:desk-7", "mcp.tools_call", "mcp:fs/read_text_file", { arguments: { path: "public/a.txt" }, within: [".", "public", "public/a.txt"] }, true],
    ["agent:desk-7", "mcp.tools_call", "mcp:fs/read_text_file", { arguments: { path: "private/a.txt" }, within: [".", "private", "private/a.txt"] }, false],
    ["agent:desk-7", "mcp.tools_call", "mcp:fs/read_text_file", { arguments: { path: "public/a.txt" } }, false],
    ["agent:desk-7", "mcp.tools_call", "mcp:fs/write_file", { arguments: { path: "public/a.txt" }, within: [".", "public", "public/a.txt"] }, false],
    ["agent:desk-7", "mcp.tools_call", "mcp:fs/list_allowed_directories", { arguments: {} }, true],
    ["agent:desk-7", "mcp.tools_call", "mcp:everything/echo", { arguments: {} }, false],
    ["agent:ops-1", "mcp.tools_call", "mcp:everything/echo", { arguments: { message: "hi" } }, true],
    ["agent:ops-1", "mcp.resources_read", "mcp:everything/demo://resource/static/document/architecture.md", { arguments: {} }, true],
    ["agent:ops-1", "mcp.tools_call", "mcp:fs/read_text_file", { arguments: { path: "public/a.txt" }, within: [".", "public"] }, false],
  ];
  for (const [actor, action, resource, context, allowed] of mcpCases) {
    test(`Cedar (MCP): ${actor} ${action} ${resource} ${JSON.stringify(context)} -> ${allowed ? "allow" : "deny"}`, () => {
      const answer = bundle.authorize({ actor, action, resource, context });
      assert.equal(answer.ok, true);
      assert.equal(answer.ok && answer.allowed, allowed);
    });
  }

  test("couldAllow: what some call context could make Cedar allow, for listing tools per caller", () => {
    const could = (actor: string, resource: string | null, action = "mcp.tools_call") => bundle.couldAllow({ actor, action, resource, contextKeys: ["arguments", "within"] });
    assert.equal(could("agent:desk-7", "mcp:fs/read_text_file"), true, "allowed for some paths");
    assert.equal(could("agent:desk-7", "mcp:fs/list_allowed_directories"), true);
    for (const write of ["write_file", "edit_file", "create_directory", "move_file"]) assert.equal(could("agent:desk-7", `mcp:fs/${write}`), false, write);
    assert.equal(could("agent:ops-1", "mcp:fs/read_text_file"), false);
    assert.equal(could("agent:ops-1", "mcp:everything/echo"), true);
    assert.equal(could("agent:desk-7", "mcp:everything/echo"), false);
    assert.equal(could("agent:ops-1", null, "mcp.resources_read"), true, "an unknown resource (a URI template) that the actor may read some of");
    assert.equal(could("agent:desk-7", null, "mcp.resources_read"), false);
    assert.equal(could("agent:desk-8", "mcp:fs/read_text_file"), false);
    assert.equal(bundle.couldAllow({ actor: "agent:desk-7", action: "mcp.tools_call", resource: "mcp:fs/read_text_file", contextKeys: [] }), false, "without a within, the read policy never allows");
  });

  const cases: Array<[string, string, string, boolean]> = [
    ["agent:desk-7", "swap.execute", "solana:mainnet/jupiter", true],
    ["agent:desk-7", "quote.read", "solana:mainnet/orca", true],
    ["agent:desk-7", "swap.execute", "solana:devnet/jupiter", false],
    ["agent:desk-7", "swap.execute", "ethereum:mainnet/uniswap", false],
    ["agent:desk-7", "shell.exec", "host:sandbox", false],
    ["agent:ops-1", "shell.exec", "host:sandbox", true],
    ["agent:ops-1", "shell.exec", "host:prod", false],
    ["agent:ops-1", "swap.execute", "solana:mainnet/jupiter", false],
    ["agent:desk-8", "quote.read", "solana:mainnet/jupiter", false],
    ["agent:desk-7", "transfer.send", "solana:mainnet/jupiter", false],
  ];
  for (const [actor, action, resource, allowed] of cases) {
    test(`Cedar: ${actor} ${action} ${resource} -> ${allowed ? "allow" : "deny"}`, () => {
      const answer = bundle.authorize({ actor, action, resource, context: {} });
      assert.equal(answer.ok, true);
      assert.equal(answer.ok && answer.allowed, allowed);
    });
  }

  test("an entity reference smuggled as a resource id is only a string", () => {
    const answer = bundle.authorize({ actor: "agent:desk-7", action: "swap.execute", resource: 'solana:mainnet/x" || true', context: {} });
    assert.equal(answer.ok && answer.allowed, true, "the resource path still matches the prefix literally");
    const other = bundle.authorize({ actor: 'agent:desk-7"', action: "swap.execute", resource: "solana:mainnet/x", context: {} });
    assert.equal(other.ok && other.allowed, false);
  });

  test("compiling the same files twice gives the same hash (deterministic)", () => {
    assert.equal(compileOk(exampleFiles()).policyHash, bundle.policyHash);
  });
});

describe("a broken bundle names the file and line", () => {
  test("Cedar syntax error", () => {
    const text = readFileSync(join(POLICY_DIR, "desk-7.cedar"), "utf8").replace('action == Action::"swap.execute",', 'action == Action::"swap.execute" +,');
    const problems = problemsOf(replaceFile(exampleFiles(), "desk-7.cedar", text));
    assert.equal(problems[0]?.file, "desk-7.cedar");
    assert.equal(problems[0]?.line, 7);
  });

  test("Cedar policy that breaks the schema", () => {
    const text = readFileSync(join(POLICY_DIR, "ops-1.cedar"), "utf8").replace(");", ") when { resource.owner == \"x\" };");
    const problems = problemsOf(replaceFile(exampleFiles(), "ops-1.cedar", text));
    assert.equal(problems[0]?.file, "ops-1.cedar");
    assert.ok(problems[0]?.line !== undefined && problems[0].line >= 3, JSON.stringify(problems));
    assert.match(problems[0]?.message ?? "", /owner/);
  });

  test("policy.json that is not JSON", () => {
    const problems = problemsOf(replaceFile(exampleFiles(), "policy.json", '{\n  "policy_id": "x",\n  oops\n}'));
    assert.equal(problems[0]?.file, "policy.json");
    assert.equal(problems[0]?.line, 3);
  });

  test("policy.json with an unknown field or a wrong type", () => {
    const manifest = JSON.parse(readFileSync(join(POLICY_DIR, "policy.json"), "utf8"));
    manifest.permits.max_ttl_seconds = "300";
    manifest.surprise = true;
    const problems = problemsOf(replaceFile(exampleFiles(), "policy.json", JSON.stringify(manifest)));
    const messages = problems.map((p) => p.message).join("\n");
    assert.match(messages, /\$\.permits\.max_ttl_seconds/);
    assert.match(messages, /\$\.surprise/);
  });

  test("missing manifest, schema or policies", () => {
    assert.equal(problemsOf(exampleFiles().filter((f) => f.path !== "policy.json"))[0]?.file, "policy.json");
    assert.equal(problemsOf(exampleFiles().filter((f) => f.path !== "schema.cedarschema"))[0]?.file, "schema.cedarschema");
    assert.equal(problemsOf(exampleFiles().filter((f) => !f.path.endsWith(".cedar")))[0]?.file, "*.cedar");
  });

  test("mcp.json that does not validate: a bad server id, an unknown field, a docker sandbox without an image, a URL with credentials", () => {
    const mcp = {
      servers: {
        Bad_Id: { transport: "http", url: "https://example.test/mcp" },
        ok: { transport: "stdio", command: "x", surprise: 1 },
        boxed: { transport: "stdio", command: "x", sandbox: "docker" },
        remote: { transport: "http", url: "https://user:pw@example.test/mcp" },
      },
    };
    const problems = problemsOf(replaceFile(exampleFiles(), "mcp.json", JSON.stringify(mcp)));
    assert.ok(problems.every((p) => p.file === "mcp.json"), JSON.stringify(problems));
    const messages = problems.map((p) => p.message).join("\n");
    assert.match(messages, /\$\.servers\.Bad_Id/);
    assert.match(messages, /surprise/);
    assert.match(messages, /docker sandbox needs the image/);
    assert.match(messages, /without credentials/);
    assert.doesNotMatch(messages, /pw@/, "the URL's credentials are not repeated");
    assert.equal(problemsOf(replaceFile(exampleFiles(), "mcp.json", '{\n  "servers": {\n  oops'))[0]?.line, 3);
  });

  test("duplicate policy ids", () => {
    const text = readFileSync(join(POLICY_DIR, "ops-1.cedar"), "utf8").replace("ops1-shell-sandbox", "desk7-swap-solana-mainnet");
    const problems = problemsOf(replaceFile(exampleFiles(), "ops-1.cedar", text));
    assert.match(problems[0]?.message ?? "", /duplicate policy id/);
  });
});

describe("evaluation errors fail closed", () => {
  const schema = `entity Agent; entity Resource = { "path": String };
action "act" appliesTo { principal: [Agent], resource: [Resource], context: { "n"?: Long } };`;
  const policies = `@id("allow-all") permit (principal, action, resource);
@id("forbid-big") forbid (principal, action, resource) when { context has n && context.n * 1000000000000 > 0 };`;
  const manifest = JSON.stringify({
    policy_id: "p",
    permits: { max_ttl_seconds: 60, clock_skew_seconds: 0, scopes: {} },
    market: { max_age_seconds: 60 },
  });
  const files = [
    { path: "policy.json", bytes: new TextEncoder().encode(manifest) },
    { path: "schema.cedarschema", bytes: new TextEncoder().encode(schema) },
    { path: "p.cedar", bytes: new TextEncoder().encode(policies) },
  ];
  const bundle = compileOk(files);

  test("a forbid policy that errors does not silently let a permit allow", () => {
    const fine = bundle.authorize({ actor: "a", action: "act", resource: "r", context: { n: 0 } });
    assert.deepEqual(fine, { ok: true, allowed: true, determiningPolicies: ["allow-all"] });
    const overflow = bundle.authorize({ actor: "a", action: "act", resource: "r", context: { n: Number.MAX_SAFE_INTEGER } });
    assert.equal(overflow.ok, false);
  });
});

describe("memoised answers", () => {
  const request = (resource: string, context: Record<string, unknown> = {}) => ({ actor: "agent:desk-7", action: "quote.read", resource, context });

  test("a repeated request gets the first answer back; a fresh bundle computes the same", () => {
    const bundle = compileOk(exampleFiles());
    const first = bundle.authorize(request("solana:mainnet/jupiter"));
    assert.deepEqual(first, { ok: true, allowed: true, determiningPolicies: ["desk7-quote-solana-mainnet"] });
    assert.equal(bundle.authorize(request("solana:mainnet/jupiter")), first, "the same answer object: memoised");
    assert.deepEqual(compileOk(exampleFiles()).authorize(request("solana:mainnet/jupiter")), first);
    assert.ok(Object.isFrozen((first as { determiningPolicies: ReadonlyArray<string> }).determiningPolicies), "a shared answer cannot be edited by a caller");
  });

  test("the key is the whole request: another resource, action or context is evaluated on its own", () => {
    const bundle = compileOk(exampleFiles());
    assert.equal(bundle.authorize(request("solana:mainnet/jupiter")).ok && bundle.authorize(request("solana:mainnet/jupiter")).ok, true);
    const elsewhere = bundle.authorize(request("ethereum:mainnet/uniswap"));
    assert.deepEqual(elsewhere, { ok: true, allowed: false, determiningPolicies: [] });
    const swap = bundle.authorize({ ...request("solana:mainnet/jupiter"), action: "swap.execute", actor: "agent:ops-1" });
    assert.equal(swap.ok && swap.allowed, false);
    assert.deepEqual(bundle.authorize(request("solana:mainnet/jupiter", { tag: "a" })), { ok: true, allowed: true, determiningPolicies: ["desk7-quote-solana-mainnet"] });
  });

  test("bounded: past CEDAR_ANSWER_CACHE_SIZE distinct requests the oldest is evaluated again, with the same answer", () => {
    const bundle = compileOk(exampleFiles());
    const first = bundle.authorize(request("solana:mainnet/jupiter"));
    for (let i = 0; i < CEDAR_ANSWER_CACHE_SIZE; i++) {
      const answer = bundle.authorize(request(`solana:mainnet/pool-${i}`));
      assert.ok(answer.ok && answer.allowed);
    }
    const again = bundle.authorize(request("solana:mainnet/jupiter"));
    assert.notEqual(again, first, "evicted, so evaluated afresh");
    assert.deepEqual(again, first);
  });

  test("a context JSON cannot carry is evaluated unmemoised and never throws", () => {
    const bundle = compileOk(exampleFiles());
    const answer = bundle.authorize(request("solana:mainnet/jupiter", { n: 1n as unknown as number }));
    assert.equal(answer.ok, false, "Cedar refuses it: fail closed");
    assert.notEqual(bundle.authorize(request("solana:mainnet/jupiter", { n: 1n as unknown as number })), answer, "not memoised");
  });

  test("contexts that differ only in key order are both answered alike", () => {
    const bundle = compileOk(exampleFiles());
    assert.deepEqual(bundle.authorize(request("solana:mainnet/jupiter", { a: 1, b: 2 })), bundle.authorize(request("solana:mainnet/jupiter", { b: 2, a: 1 })));
  });
});
