/**
 * A control plane killed while a command runs: the command is not orphaned, not resumed
 * and not repeated. Real processes (SIGKILL), a real Docker engine, a real store file.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, test } from "node:test";
import { dockerOwner } from "../../src/layers.ts";
import { readDevCredentials, tempDir } from "../support/harness.ts";
import { killAllChildren, spawnServer } from "../support/spawnServer.ts";
import { waitFor } from "../support/waitFor.ts";
import { containerEvents, engine, requireDocker, SANDBOX_IMAGE, skipWithoutDocker } from "./brokerSupport.ts";

const dockerEnv: Record<string, string> = process.env["ZT_DOCKER_HOST"] ? { ZT_DOCKER_HOST: process.env["ZT_DOCKER_HOST"] } : {};

describe("a crash during an execution (real engine, real processes)", { skip: skipWithoutDocker }, () => {
  const dataDir = tempDir("zt-crash-");
  after(async () => {
    await killAllChildren();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("SIGKILL mid-run: the restart kills and removes the container, records the run interrupted, and never runs it again", async () => {
    requireDocker();
    const since = Math.floor(Date.now() / 1000) - 1;
    const first = await spawnServer({ dataDir, env: dockerEnv });
    const tokens = readDevCredentials(dataDir);
    const body = { actor: "agent:ops-1", action: "shell.exec", resource: "host:sandbox", execute: { broker: "docker", image: SANDBOX_IMAGE, command: ["sleep", "60"], timeout_ms: 120_000 } };
    const pending = first.request("POST", "/actions", { token: tokens.ops1, json: body }).catch(() => undefined);

    const owner = `zt.owner=${dockerOwner(dataDir)}`;
    const running = await waitFor("the decision's container to run", async () => (await engine.listContainers({ filters: { label: [owner], status: ["running"] } }))[0]);
    const decisionId = running.Labels["zt.decision_id"]!;
    await first.kill();
    await pending;
    assert.equal((await engine.getContainer(running.Id).inspect()).State.Running, true, "the engine keeps the container running past the crash");

    const second = await spawnServer({ dataDir, env: dockerEnv });
    const read = await waitFor("the restart to record the interrupted run", async () => {
      const reply = await second.request("GET", `/decisions/${decisionId}`, { token: tokens.operator });
      return reply.json?.execution?.status === "failed" ? reply : undefined;
    });
    assert.equal(read.json.status, "allowed", "the decision itself stands");
    assert.equal(read.json.execution.error.reason, "interrupted");
    await assert.rejects(engine.getContainer(running.Id).inspect(), "the leftover container is gone");
    assert.deepEqual(await engine.listContainers({ all: true, filters: { label: [owner] } }), []);

    const actions = await containerEvents(decisionId, since);
    assert.equal(actions.filter((action) => action === "create").length, 1, `one container: ${actions.join(", ")}`);
    assert.equal(actions.filter((action) => action === "start").length, 1, `started once: ${actions.join(", ")}`);
    assert.ok(actions.includes("destroy"));
    await second.stop();
  });
});
