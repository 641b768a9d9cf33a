import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import { ACTION_DECIDED, decisionStream } from "../../src/decisions/events.ts";
import { EventStore, type RecordedEvent } from "../../src/events/EventStore.ts";
import { EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_STARTED } from "../../src/execution/events.ts";
import { canonicalJsonTrusted } from "../../src/kernel/jcs.ts";
import { sha256Hex } from "../../src/kernel/hashing.ts";
import { makeHarness, type Harness } from "../support/harness.ts";
import { requireBwrap, skipWithoutBwrap } from "./bwrapSupport.ts";

const shell = (execute: Record<string, unknown>, overrides: Record<string, unknown> = {}) => ({
  actor: "agent:ops-1",
  action: "shell.exec",
  resource: "host:sandbox",
  execute,
  ...overrides,
});

describe("POST /actions with execute (real bwrap)", { skip: skipWithoutBwrap }, () => {
  let h: Harness;
  before(async () => {
    requireBwrap();
    h = await makeHarness();
  });
  after(() => h?.close());

  const streamOf = (decisionId: string): Promise<ReadonlyArray<RecordedEvent>> =>
    h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(decisionStream(decisionId))));

  test("ops-1 echoes through bwrap: 200, output to the caller, hashes only in the events and logs", async () => {
    const marker = `zt-output-${crypto.randomUUID()}`;
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell({ broker: "bwrap", command: ["echo", marker] }) });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.status, "allowed");
    const execution = reply.json.execution;
    assert.equal(execution.broker, "bwrap");
    assert.equal(execution.status, "completed");
    assert.equal(execution.exit_code, 0);
    assert.equal(execution.stdout, `${marker}\n`);
    assert.equal(execution.stderr, "");
    assert.equal(execution.stdout_sha256, sha256Hex(`${marker}\n`));
    assert.equal(execution.stderr_sha256, sha256Hex(""));
    assert.equal(execution.truncated, false);
    assert.equal(typeof execution.duration_ms, "number");

    const events = await streamOf(reply.json.decision_id);
    assert.deepEqual(events.map((event) => event.type), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_COMPLETED]);
    assert.deepEqual(events[1]!.data, {
      decision_id: reply.json.decision_id,
      broker: "bwrap",
      argv_sha256: sha256Hex(canonicalJsonTrusted(["echo", marker])),
    });
    assert.deepEqual(events[2]!.data, {
      decision_id: reply.json.decision_id,
      broker: "bwrap",
      status: "completed",
      exit_code: 0,
      duration_ms: execution.duration_ms,
      stdout_sha256: execution.stdout_sha256,
      stderr_sha256: execution.stderr_sha256,
      truncated: false,
    });
    // The request (with its argv) is part of ActionDecided; the output is in no event and no log.
    const output = `${marker}\n`;
    for (const event of events.slice(1)) assert.ok(!JSON.stringify(event.data).includes(marker), `${event.type} holds no output`);
    assert.ok(!JSON.stringify(events[0]!.data).includes(output), "ActionDecided holds no output");
    for (const line of h.logs) assert.ok(!line.includes(marker), `log line holds no output: ${line}`);

    const read = await h.request("GET", `/decisions/${reply.json.decision_id}`, { token: h.tokens.ops1 });
    assert.equal(read.status, 200, read.text);
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
    assert.ok(!read.text.includes(marker), "GET /decisions/:id returns no output");
  });

  test("the contract example: echo hi returns stdout hi", async () => {
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell({ broker: "bwrap", command: ["echo", "hi"] }) });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.execution.status, "completed");
    assert.equal(reply.json.execution.stdout, "hi\n");
  });

  test("a timeout is reported and recorded as timeout", async () => {
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell({ broker: "bwrap", command: ["sleep", "30"], timeout_ms: 200 }) });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.execution.status, "timeout");
    const events = await streamOf(reply.json.decision_id);
    assert.equal((events[2]!.data as { status: string }).status, "timeout");
  });

  test("a denied action never starts anything", async () => {
    const denied = [
      shell({ broker: "bwrap", command: ["echo", "hi"] }, { resource: "host:prod" }),
      shell({ broker: "bwrap", command: ["echo", "hi"], network: true }),
      shell({ broker: "podman", command: ["echo", "hi"] }),
    ];
    for (const body of denied) {
      const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: body });
      assert.equal(reply.status, 403, reply.text);
      assert.equal(reply.json.execution, null);
      const events = await streamOf(reply.json.decision_id);
      assert.deepEqual(events.map((event) => event.type), [ACTION_DECIDED]);
    }
    // desk-7 may not shell at all.
    const other = await h.request("POST", "/actions", { token: h.tokens.desk7, json: shell({ broker: "bwrap", command: ["echo", "hi"] }, { actor: "agent:desk-7" }) });
    assert.equal(other.status, 403, other.text);
    assert.deepEqual((await streamOf(other.json.decision_id)).map((event) => event.type), [ACTION_DECIDED]);
  });

  test("broker unavailable: the decision stays allowed and recorded, the execution fails operationally", async () => {
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
    const events = await streamOf(reply.json.decision_id);
    assert.deepEqual(events.map((event) => event.type), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_FAILED]);
    assert.equal((events[2]!.data as { reason: string }).reason, "unavailable");
  });

  test("docker and nono are not configured in this build", async () => {
    for (const execute of [{ broker: "docker", image: "zt-busybox:local", command: ["echo", "hi"] }]) {
      const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: shell(execute) });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.json.execution.status, "failed");
      assert.match(reply.json.execution.error.message, /broker docker is not configured in this build/);
      const events = await streamOf(reply.json.decision_id);
      assert.deepEqual(events.map((event) => event.type), [ACTION_DECIDED, EXECUTION_STARTED, EXECUTION_FAILED]);
    }
  });
});
