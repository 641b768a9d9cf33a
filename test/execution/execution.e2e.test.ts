import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import { decisionStream } from "../../src/vocabulary/DecisionId.ts";
import { EventStore, type RecordedEvent } from "../../src/events/EventStore.ts";
import { ExecutionService } from "../../src/execution/ExecutionService.ts";
import { EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_STARTED } from "../../src/execution/events.ts";
import { canonicalJsonTrusted } from "../../src/kernel/jcs.ts";
import { sha256Hex } from "../../src/kernel/hashing.ts";
import { examplePolicyWith, makeHarness, type Harness } from "../support/harness.ts";
import { waitFor } from "../support/waitFor.ts";
import { containerEvents, engine, requireBwrap, requireDocker, SANDBOX_IMAGE, skipWithoutBwrap, skipWithoutDocker } from "./brokerSupport.ts";

const shell = (execute: Record<string, unknown>, overrides: Record<string, unknown> = {}) => ({
  actor: "agent:ops-1",
  action: "shell.exec",
  resource: "host:sandbox",
  execute,
  ...overrides,
});

const docker = (command: ReadonlyArray<string>, extra: Record<string, unknown> = {}) => ({ broker: "docker", image: SANDBOX_IMAGE, command, ...extra });

const streamOf = (h: Harness, decisionId: string): Promise<ReadonlyArray<RecordedEvent>> =>
  h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(decisionStream(decisionId))));

const typesOf = (events: ReadonlyArray<RecordedEvent>) => events.map((event) => event.type);
const nowSeconds = () => Math.floor(Date.now() / 1000) - 1;

describe("POST /actions with execute through docker (real engine)", { skip: skipWithoutDocker }, () => {
  let h: Harness;
  before(async () => {
    requireDocker();
    h = await makeHarness();
  });
  after(() => h?.close());

  test("an allowed command runs in Docker: output to the caller only, hashes in the events, nothing in logs, audit or the store file", async () => {
    // The output (upper case) is not in the argv (lower case), so finding it anywhere means output leaked.
    const seed = crypto.randomUUID();
    const output = `${seed.toUpperCase()}\n`;
    const command = ["sh", "-c", `echo ${seed} | tr a-f A-F`];
    const since = nowSeconds();
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell(docker(command)) });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.status, "allowed");
    const { execution, decision_id: decisionId } = reply.json;
    assert.equal(execution.broker, "docker");
    assert.equal(execution.status, "completed");
    assert.equal(execution.exit_code, 0);
    assert.equal(execution.stdout, output);
    assert.equal(execution.stdout_sha256, sha256Hex(output));
    assert.equal(execution.stderr_sha256, sha256Hex(""));
    assert.equal(execution.truncated, false);
    const { Id } = await engine.getImage(SANDBOX_IMAGE).inspect();
    assert.equal(execution.image_id, Id);

    const events = await streamOf(h, decisionId);
    assert.deepEqual(typesOf(events), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_COMPLETED]);
    // The example policy runs the image only as the digest images.lock.json pins it to.
    assert.deepEqual(events[1]!.data, { decision_id: decisionId, broker: "docker", argv_sha256: sha256Hex(canonicalJsonTrusted(command)), image: SANDBOX_IMAGE, image_digest: Id });
    assert.deepEqual(events[2]!.data, {
      decision_id: decisionId,
      broker: "docker",
      status: "completed",
      exit_code: 0,
      duration_ms: execution.duration_ms,
      stdout_sha256: execution.stdout_sha256,
      stderr_sha256: execution.stderr_sha256,
      truncated: false,
      image_id: Id,
    });
    assert.deepEqual((await containerEvents(decisionId, since)).filter((action) => ["create", "start", "destroy"].includes(action)), ["create", "start", "destroy"]);

    const marker = seed.toUpperCase();
    for (const line of h.logs) assert.ok(!line.includes(marker), `log line holds no output: ${line}`);
    for (const event of events) assert.ok(!JSON.stringify(event.data).includes(marker), `${event.type} holds no output`);
    const read = await h.request("GET", `/decisions/${decisionId}`, { token: h.tokens.ops1 });
    assert.equal(read.json.execution.stdout, null);
    assert.equal(read.json.execution.stdout_sha256, execution.stdout_sha256);
    assert.equal(read.json.execution.image_id, Id);
    assert.ok(!read.text.includes(marker), "GET /decisions/:id returns no output");
    // The audit projection (records, checkpoints: what gets anchored) carries hashes alone.
    await waitFor("the audit projection to reach the run's last event", async () =>
      (await h.request("GET", "/audit/head", { token: h.tokens.operator })).json?.seq >= events.at(-1)!.position ? true : undefined,
    );
    const records = await h.request("GET", "/audit/records?after=0&limit=1000", { token: h.tokens.operator });
    assert.equal(records.status, 200, records.text);
    assert.ok(!records.text.includes(marker), "no audit record holds output");
    assert.ok(!(await h.request("GET", "/audit/batches", { token: h.tokens.operator })).text.includes(marker), "no batch holds output");
    for (const file of ["events.db", "events.db-wal"].map((name) => join(h.dataDir, name)).filter(existsSync)) {
      assert.ok(!readFileSync(file).includes(Buffer.from(marker)), `${file} holds no output`);
    }
  });

  test("an action denied by policy never reaches the broker: the engine saw no container", async () => {
    const since = nowSeconds();
    const denied = [
      shell(docker(["echo", "hi"]), { resource: "host:prod" }),
      shell(docker(["echo", "hi"], { image: "alpine:latest" })),
      shell(docker(["echo", "hi"], { network: true })),
      shell({ broker: "nono", command: ["echo", "hi"] }),
    ];
    for (const body of denied) {
      const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: body });
      assert.equal(reply.status, 403, reply.text);
      assert.equal(reply.json.execution, null);
      assert.deepEqual(typesOf(await streamOf(h, reply.json.decision_id)), [ACTION_DECIDED]);
      assert.deepEqual(await containerEvents(reply.json.decision_id, since), [], `no container for ${reply.json.reason}`);
    }
    const other = await h.request("POST", "/actions", { token: h.tokens.desk7, json: shell(docker(["echo", "hi"]), { actor: "agent:desk-7" }) });
    assert.equal(other.status, 403, other.text);
    assert.deepEqual(await containerEvents(other.json.decision_id, since), []);
  });

  test("a sleep past the timeout is killed, reported as timeout and recorded as ExecutionFailed(timeout)", async () => {
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell(docker(["sh", "-c", "echo started; sleep 30"], { timeout_ms: 400 })) });
    assert.equal(reply.status, 200, reply.text);
    const { execution } = reply.json;
    assert.equal(execution.status, "timeout");
    assert.equal(execution.exit_code, null);
    assert.equal(execution.stdout, "started\n");
    assert.equal(execution.error.reason, "timeout");
    const events = await streamOf(h, reply.json.decision_id);
    assert.deepEqual(typesOf(events), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_FAILED]);
    const failed = events[2]!.data as Record<string, any>;
    assert.equal(failed["reason"], "timeout");
    assert.match(failed["message"], /killed at its 400 ms timeout/);
    assert.equal(failed["run"].stdout_sha256, sha256Hex("started\n"));
    const read = await h.request("GET", `/decisions/${reply.json.decision_id}`, { token: h.tokens.ops1 });
    assert.equal(read.json.execution.status, "timeout");
    assert.equal(read.json.execution.error.reason, "timeout");
  });

  test("a decision runs at most once: a second execute of the same decision is refused and the engine saw one container", async () => {
    const since = nowSeconds();
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell(docker(["echo", "once"])) });
    assert.equal(reply.json.execution.status, "completed", reply.text);
    const decisionId = reply.json.decision_id;
    // As a restart that re-drove the decision would: its ActionDecided is at revision 0.
    const again = await h.built.runtime.runPromise(
      Effect.flatMap(ExecutionService, (service) =>
        service.execute({ decisionId, decidedRevision: 0, actor: "agent:ops-1", action: "shell.exec", execute: { broker: "docker", image: SANDBOX_IMAGE, command: ["echo", "once"] } }),
      ),
    );
    assert.equal(again.status, "failed");
    assert.match(again.error!.message, /already started its execution; a decision runs at most once/);
    assert.deepEqual(typesOf(await streamOf(h, decisionId)), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_COMPLETED]);
    assert.equal((await containerEvents(decisionId, since)).filter((action) => action === "start").length, 1);
  });

  test("broker unavailable: the decision stays allowed and recorded, the execution fails operationally", async () => {
    const down = await makeHarness({ env: { ZT_DOCKER_HOST: "unix:///nonexistent/docker.sock" } });
    try {
      const reply = await down.request("POST", "/actions", { token: down.tokens.ops1, json: shell(docker(["echo", "hi"])) });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.json.status, "allowed");
      assert.equal(reply.json.execution.status, "failed");
      assert.equal(reply.json.execution.error.reason, "unavailable");
      assert.match(reply.json.execution.error.message, /Docker engine is not reachable/);
      const events = await streamOf(down, reply.json.decision_id);
      assert.deepEqual(typesOf(events), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_FAILED]);
      assert.equal((events[2]!.data as { reason: string }).reason, "unavailable");
    } finally {
      await down.close();
    }
  });

  test("an image pinned by digest runs when it matches; a wrong pin is image_mismatch and creates nothing", async () => {
    const { Id } = await engine.getImage(SANDBOX_IMAGE).inspect();
    const pin = (digest: string) =>
      examplePolicyWith((manifest) => {
        manifest.execution.rules[0].brokers.docker = { images: [`${SANDBOX_IMAGE}@${digest}`], limits: { memory_mb: 64, pids: 16, cpus: 0.5 } };
      });
    for (const [digest, expected] of [
      [Id, "completed"],
      [`sha256:${"ab".repeat(32)}`, "image_mismatch"],
    ] as const) {
      const dir = pin(digest);
      const pinned = await makeHarness({ policyDir: dir });
      try {
        const since = nowSeconds();
        const reply = await pinned.request("POST", "/actions", { token: pinned.tokens.ops1, json: shell(docker(["echo", "pinned"])) });
        assert.equal(reply.status, 200, reply.text);
        const events = await streamOf(pinned, reply.json.decision_id);
        assert.equal((events[1]!.data as { image_digest?: string }).image_digest, digest, "the start records the pinned digest");
        if (expected === "completed") {
          assert.equal(reply.json.execution.status, "completed", reply.text);
          assert.equal(reply.json.execution.image_id, Id);
        } else {
          assert.equal(reply.json.execution.status, "failed");
          assert.equal(reply.json.execution.error.reason, "image_mismatch");
          assert.deepEqual(await containerEvents(reply.json.decision_id, since), []);
        }
      } finally {
        await pinned.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  test("attack 11: an image retagged on the engine is not what runs; an image the policy does not pin is never run", async () => {
    // The impostor: another image (its own id), given the tag the policy names.
    const { Id } = await engine.getImage(SANDBOX_IMAGE).inspect();
    const builder = await engine.createContainer({ Image: Id, Cmd: ["true"], Labels: { "zt.test": "impostor" } });
    const impostor = (await builder.commit({ repo: "zt-retag-test", tag: "local", changes: ["LABEL impostor=yes"] })) as { Id: string };
    await builder.remove({ force: true });
    const dir = examplePolicyWith((manifest) => {
      manifest.execution.rules[0].brokers.docker = { images: ["zt-retag-test:local"] };
    });
    try {
      assert.notEqual(impostor.Id, Id);
      // Unpinned: refused before anything reaches the engine.
      rmSync(join(dir, "images.lock.json"), { force: true });
      const unpinned = await makeHarness({ policyDir: dir });
      try {
        const reply = await unpinned.request("POST", "/actions", { token: unpinned.tokens.ops1, json: shell({ broker: "docker", image: "zt-retag-test:local", command: ["echo", "hi"] }) });
        assert.equal(reply.status, 403, reply.text);
        assert.equal(reply.json.reason, "image_not_allowed");
        assert.match(reply.json.detail, /pins no digest/);
      } finally {
        await unpinned.close();
      }
      // Pinned to the image that was built: the retagged impostor is refused and nothing is created.
      writeFileSync(join(dir, "images.lock.json"), JSON.stringify({ "zt-retag-test:local": Id }));
      const pinned = await makeHarness({ policyDir: dir });
      try {
        const since = nowSeconds();
        const reply = await pinned.request("POST", "/actions", { token: pinned.tokens.ops1, json: shell({ broker: "docker", image: "zt-retag-test:local", command: ["echo", "hi"] }) });
        assert.equal(reply.status, 200, reply.text);
        assert.equal(reply.json.execution.status, "failed");
        assert.equal(reply.json.execution.error.reason, "image_mismatch");
        assert.deepEqual(await containerEvents(reply.json.decision_id, since), []);
      } finally {
        await pinned.close();
      }
    } finally {
      await engine.getImage(impostor.Id).remove({ force: true }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the policy rule's limits reach the container", async () => {
    const dir = examplePolicyWith((manifest) => {
      manifest.execution.rules[0].brokers.docker = { images: [SANDBOX_IMAGE], limits: { memory_mb: 48, pids: 12, cpus: 0.25, output_bytes: 10 } };
    });
    const limited = await makeHarness({ policyDir: dir });
    try {
      const reply = await limited.request("POST", "/actions", { token: limited.tokens.ops1, json: shell(docker(["sh", "-c", "echo 0123456789abcdef"])) });
      assert.equal(reply.json.execution.stdout, "0123456789", reply.text);
      assert.equal(reply.json.execution.truncated, true);
      const flood = await limited.request("POST", "/actions", {
        token: limited.tokens.ops1,
        json: shell(docker(["sh", "-c", "i=0; while [ $i -lt 100 ]; do echo $i >&2; sleep 20 & i=$((i+1)); done"])),
      });
      assert.notEqual(flood.json.execution.exit_code, 0, flood.text);
    } finally {
      await limited.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("POST /actions with execute through bwrap (real bwrap)", { skip: skipWithoutBwrap }, () => {
  let h: Harness;
  before(async () => {
    requireBwrap();
    h = await makeHarness();
  });
  after(() => h?.close());

  test("ops-1 echoes through bwrap: 200, output to the caller, hashes only in the events and logs", async () => {
    const marker = `zt-output-${crypto.randomUUID()}`;
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell({ broker: "bwrap", command: ["echo", marker] }) });
    assert.equal(reply.status, 200, reply.text);
    const execution = reply.json.execution;
    assert.equal(execution.broker, "bwrap");
    assert.equal(execution.status, "completed");
    assert.equal(execution.stdout, `${marker}\n`);
    assert.equal(execution.stdout_sha256, sha256Hex(`${marker}\n`));
    const events = await streamOf(h, reply.json.decision_id);
    assert.deepEqual(typesOf(events), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_COMPLETED]);
    assert.deepEqual(events[1]!.data, { decision_id: reply.json.decision_id, broker: "bwrap", argv_sha256: sha256Hex(canonicalJsonTrusted(["echo", marker])) });
    for (const event of events.slice(1)) assert.ok(!JSON.stringify(event.data).includes(marker), `${event.type} holds no output`);
    for (const line of h.logs) assert.ok(!line.includes(marker), `log line holds no output: ${line}`);
    const read = await h.request("GET", `/decisions/${reply.json.decision_id}`, { token: h.tokens.ops1 });
    assert.deepEqual(read.json.execution, {
      broker: "bwrap",
      status: "completed",
      exit_code: 0,
      stdout: null,
      stderr: null,
      stdout_sha256: execution.stdout_sha256,
      stderr_sha256: execution.stderr_sha256,
      truncated: false,
      duration_ms: execution.duration_ms,
    });
  });

  test("a timeout is reported as timeout and recorded as ExecutionFailed(timeout)", async () => {
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell({ broker: "bwrap", command: ["sleep", "30"], timeout_ms: 200 }) });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.execution.status, "timeout");
    const events = await streamOf(h, reply.json.decision_id);
    assert.deepEqual(typesOf(events), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_FAILED]);
    assert.equal((events[2]!.data as { reason: string }).reason, "timeout");
  });

  test("bwrap unavailable: the decision stays allowed and recorded, the execution fails operationally", async () => {
    const path = process.env["PATH"];
    process.env["PATH"] = "/nonexistent";
    let reply;
    try {
      reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell({ broker: "bwrap", command: ["echo", "hi"] }) });
    } finally {
      process.env["PATH"] = path;
    }
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.status, "allowed");
    assert.equal(reply.json.execution.status, "failed");
    assert.equal(reply.json.execution.error.reason, "unavailable");
    assert.deepEqual(typesOf(await streamOf(h, reply.json.decision_id)), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_FAILED]);
  });
});

