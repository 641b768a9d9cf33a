/**
 * Policy reload without a restart (contract section 11): `POST /policy/reload` and SIGHUP
 * validate the bundle on disk first; a bad one is refused and named and the old one stays;
 * an activation is a `PolicyActivated.v1` event with the old and new `policy_hash`, and
 * every decision records the hash of the bundle it was decided under. Under load (1,000
 * requests a second, the bundle flipped between two versions every 100 ms) no request
 * fails and each decision's answer is the answer of the bundle its hash names, policy id
 * and Cedar policies alike, never a mix.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, describe, test } from "node:test";
import { Effect } from "effect";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { POLICY_ACTIVATED, POLICY_ACTIVATIONS_STREAM } from "../../src/rollout/events.ts";
import { examplePolicyWith, makeHarness, readDevCredentials, tempDir, type Harness } from "../support/harness.ts";
import { killAllChildren, spawnServer } from "../support/spawnServer.ts";
import { waitFor } from "../support/waitFor.ts";

const dirs: string[] = [];
after(async () => {
  await killAllChildren();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the example bundle that flips between version A (as shipped) and B (another policy id, and desk-7 may not quote `.../closed-in-b`). */
function flippingBundle() {
  const dir = examplePolicyWith(() => undefined);
  dirs.push(dir);
  const manifestFile = join(dir, "policy.json");
  const a = readFileSync(manifestFile, "utf8");
  const b = a.replace('"policy_id": "policy_mainnet_v1"', '"policy_id": "policy_mainnet_b"');
  assert.notEqual(a, b);
  const forbidFile = join(dir, "closed-in-b.cedar");
  return {
    dir,
    toA: () => {
      writeFileSync(manifestFile, a);
      rmSync(forbidFile, { force: true });
    },
    toB: () => {
      writeFileSync(manifestFile, b);
      writeFileSync(forbidFile, '@id("closed-in-b")\nforbid (principal, action, resource) when { resource.path == "solana:mainnet/closed-in-b" };\n');
    },
    breakIt: () => writeFileSync(join(dir, "broken.cedar"), 'permit (principal, action, resource) when { resource.nope == "x" };\n'),
    unbreak: () => unlinkSync(join(dir, "broken.cedar")),
  };
}

const activations = (h: Harness): Promise<Array<Record<string, any>>> =>
  h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(POLICY_ACTIVATIONS_STREAM))).then((events) => events.map((event) => ({ type: event.type, ...event.data })));

describe("policy reload", () => {
  test("POST /policy/reload: unchanged records nothing; a new bundle is validated, recorded with both hashes and the operator, then decides; a bad one is refused by file and line and the old stays; a restart records only a change", async () => {
    const bundle = flippingBundle();
    const dataDir = tempDir("zt-reload-");
    dirs.push(dataDir);
    let h = await makeHarness({ dataDir, policyDir: bundle.dir });
    const hashA = h.built.policy.policyHash;
    const quote = (resource: string) => h.request("POST", "/actions", { token: h.tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource } });
    const reload = (token = h.tokens.operator) => h.request("POST", "/policy/reload", { token });

    // At start: one activation, the bundle in force.
    assert.deepEqual((await activations(h)).map((event) => [event.type, event.trigger, event.policy_hash, event.previous_policy_hash]), [[POLICY_ACTIVATED, "startup", hashA, null]]);

    const unchanged = await reload();
    assert.equal(unchanged.status, 200, unchanged.text);
    assert.deepEqual(unchanged.json, { status: "unchanged", policy_id: "policy_mainnet_v1", policy_hash: hashA, previous_policy_hash: hashA, candidate_policy_hash: null, activated_at: null });
    assert.equal((await activations(h)).length, 1);
    assert.equal((await reload(h.tokens.desk7)).status, 403);

    bundle.toB();
    const activated = await reload();
    assert.equal(activated.status, 200, activated.text);
    assert.equal(activated.json.status, "activated");
    assert.equal(activated.json.policy_id, "policy_mainnet_b");
    const hashB = activated.json.policy_hash;
    assert.notEqual(hashB, hashA);
    const recorded = (await activations(h)).at(-1)!;
    assert.equal(recorded.trigger, "reload");
    assert.equal(recorded.by, "operator:alice");
    assert.equal(recorded.previous_policy_hash, hashA);
    assert.equal(recorded.policy_hash, hashB);
    assert.ok("closed-in-b.cedar" in recorded.files);
    assert.equal((await h.request("GET", "/readyz")).json.policy_hash, hashB);
    const closed = await quote("solana:mainnet/closed-in-b");
    assert.equal(closed.json.reason, "policy_denied");
    assert.equal(closed.json.policy_hash, hashB);
    assert.equal((await quote("solana:mainnet/open")).json.policy_id, "policy_mainnet_b");

    bundle.breakIt();
    const refused = await reload();
    assert.equal(refused.status, 422, refused.text);
    assert.equal(refused.json.reason, "policy_invalid");
    assert.ok(refused.json.problems.some((problem: string) => /broken\.cedar:1:\d+: /.test(problem)), refused.text);
    assert.equal((await quote("solana:mainnet/closed-in-b")).json.policy_hash, hashB, "the bundle in force stays");
    assert.equal((await activations(h)).length, 2);
    bundle.unbreak();

    // The MCP servers are set up at startup: a bundle naming others is refused, not half-applied.
    const mcpFile = join(bundle.dir, "mcp.json");
    const servers = readFileSync(mcpFile, "utf8");
    writeFileSync(mcpFile, JSON.stringify({ servers: {} }));
    const otherServers = await reload();
    assert.equal(otherServers.status, 422, otherServers.text);
    assert.ok(otherServers.json.problems.some((problem: string) => problem.includes("mcp.json: the MCP servers change only with a restart")), otherServers.text);
    assert.equal((await activations(h)).length, 2);
    writeFileSync(mcpFile, servers);

    // A restart with the same bundle records nothing; with another, its activation.
    await h.close({ keepData: true });
    h = await makeHarness({ dataDir, policyDir: bundle.dir });
    assert.equal((await activations(h)).length, 2);
    await h.close({ keepData: true });
    bundle.toA();
    h = await makeHarness({ dataDir, policyDir: bundle.dir });
    assert.deepEqual((await activations(h)).slice(2).map((event) => [event.trigger, event.previous_policy_hash, event.policy_hash]), [["startup", hashB, hashA]]);
    await h.close();
  });

  test("SIGHUP reloads the bundle of a running service", async () => {
    const bundle = flippingBundle();
    const dataDir = tempDir("zt-sighup-");
    dirs.push(dataDir);
    const server = await spawnServer({ dataDir, env: { ZT_POLICY_DIR: bundle.dir } });
    const before = (await server.request("GET", "/readyz")).json.policy_hash;
    bundle.toB();
    server.child.kill("SIGHUP");
    const after = await waitFor("the reloaded bundle", async () => {
      const hash = (await server.request("GET", "/readyz")).json.policy_hash;
      return hash === before ? undefined : hash;
    });
    const tokens = readDevCredentials(dataDir);
    const closed = await server.request("POST", "/actions", { token: tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/closed-in-b" } });
    assert.equal(closed.json.policy_hash, after);
    assert.equal(closed.json.reason, "policy_denied");
    // A bad bundle on SIGHUP is refused, logged with its file, and the service goes on.
    bundle.breakIt();
    server.child.kill("SIGHUP");
    await waitFor("the refusal in the log", () => (server.stdout().includes("policy reload refused") ? true : undefined));
    assert.match(server.stdout(), /broken\.cedar:1:/);
    assert.equal((await server.request("GET", "/readyz")).json.policy_hash, after);
    await server.stop();
  });

  test("under 1,000 requests a second with the bundle flipped every 100 ms, no request fails and each decision is its bundle's", { timeout: 120_000 }, async () => {
    const bundle = flippingBundle();
    const dataDir = tempDir("zt-reload-load-");
    dirs.push(dataDir);
    const server = await spawnServer({ dataDir, env: { ZT_POLICY_DIR: bundle.dir, ZT_LOG_LEVEL: "info" } });
    const tokens = readDevCredentials(dataDir);
    const { hostname, port } = new URL(server.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 128 });
    const RATE = 1000;
    const SECONDS = 3;
    const total = RATE * SECONDS;
    const bodies = ["solana:mainnet/open", "solana:mainnet/closed-in-b"].map((resource) => JSON.stringify({ actor: "agent:desk-7", action: "quote.read", resource }));
    const statuses = new Map<number, number>();
    let failures = 0;

    // The flipper: B, reload, A, reload, ... every 100 ms while the load runs.
    const hashes = new Set<string>([(await server.request("GET", "/readyz")).json.policy_hash]);
    let flipping = true;
    const flipper = (async () => {
      for (let toB = true; flipping; toB = !toB) {
        if (toB) bundle.toB();
        else bundle.toA();
        const reply = await server.request("POST", "/policy/reload", { token: tokens.operator });
        assert.equal(reply.status, 200, reply.text);
        hashes.add(reply.json.policy_hash);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    // Open loop at a fixed rate: request i is sent when it is due, whatever the others are doing.
    const started = performance.now();
    await new Promise<void>((resolve) => {
      let sent = 0;
      let done = 0;
      const finish = () => void (++done === total && resolve());
      const send = (index: number) => {
        const body = bodies[index % 2]!;
        const request = httpRequest(
          { hostname, port, path: "/actions", method: "POST", agent, headers: { authorization: `Bearer ${tokens.desk7}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
          (response) => {
            statuses.set(response.statusCode ?? 0, (statuses.get(response.statusCode ?? 0) ?? 0) + 1);
            response.resume();
            response.once("end", finish);
          },
        );
        request.once("error", () => {
          failures += 1;
          finish();
        });
        request.end(body);
      };
      const tick = () => {
        while (sent < total && started + (sent * 1000) / RATE <= performance.now()) send(sent++);
        if (sent < total) setTimeout(tick, 1);
      };
      tick();
    });
    flipping = false;
    await flipper;
    agent.destroy();
    await server.stop();

    assert.equal(failures, 0);
    assert.deepEqual([...statuses.keys()].sort(), [200, 403], JSON.stringify(Object.fromEntries(statuses)));
    assert.ok(hashes.size === 2, `the bundle flipped between two versions: ${[...hashes].join(", ")}`);

    const db = new DatabaseSync(join(dataDir, "events.db"), { readOnly: true });
    const decisions = db.prepare("SELECT data FROM events WHERE type = ?").all(ACTION_DECIDED).map((row) => JSON.parse(String(row["data"])));
    const activated = db.prepare("SELECT data FROM events WHERE type = ?").all(POLICY_ACTIVATED).map((row) => JSON.parse(String(row["data"])));
    db.close();
    assert.equal(decisions.length, total);
    // Version B is the one whose activation names policy_mainnet_b.
    const hashB = activated.find((event) => event.policy_id === "policy_mainnet_b").policy_hash;
    const byHash = new Map<string, number>();
    for (const decision of decisions) {
      const underB = decision.policy_hash === hashB;
      assert.ok(hashes.has(decision.policy_hash), `a decision under a bundle never activated: ${decision.policy_hash}`);
      byHash.set(decision.policy_hash, (byHash.get(decision.policy_hash) ?? 0) + 1);
      assert.equal(decision.policy_id, underB ? "policy_mainnet_b" : "policy_mainnet_v1", decision.decision_id);
      const closed = decision.request.resource === "solana:mainnet/closed-in-b";
      assert.equal(decision.status, closed && underB ? "denied" : "allowed", `${decision.decision_id} under ${underB ? "B" : "A"} on ${decision.request.resource}`);
    }
    assert.equal(byHash.size, 2, "decisions were made under both versions");
    assert.ok(activated.length >= 10, `${activated.length} activations`);
  });
});
