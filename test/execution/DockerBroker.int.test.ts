import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Effect } from "effect";
import { BrokerError, type CommandSpec } from "../../src/execution/Broker.ts";
import { containerName, containerOptions } from "../../src/execution/docker/containerOptions.ts";
import { makeDockerBroker } from "../../src/execution/docker/DockerBroker.ts";
import { leaseLiveness, STALE_MS } from "../../src/execution/ProcessLease.ts";
import { brokerContract } from "./brokerContract.ts";
import { containerEvents, hostAddress, DOCKER_ENDPOINT, engine, requireDocker, SANDBOX_IMAGE, skipWithoutDocker, testSpec } from "./brokerSupport.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const leaseDir = mkdtempSync(join(tmpdir(), "zt-leases-"));
after(() => rmSync(leaseDir, { recursive: true, force: true }));
const identity = { owner: `test-${crypto.randomUUID().slice(0, 8)}`, process: crypto.randomUUID(), pid: process.pid };
const isGone = leaseLiveness(leaseDir, { id: identity.process, pid: identity.pid });
const broker = () => makeDockerBroker({ endpoint: DOCKER_ENDPOINT, identity, isGone });

const spec = (argv: ReadonlyArray<string>, overrides: Partial<CommandSpec> = {}) =>
  testSpec(argv, { image: { ref: SANDBOX_IMAGE }, cpus: 0.5, memoryBytes: 128 * 1024 * 1024, pids: 32, timeoutMs: 5_000, ...overrides });

describe("container options (pure)", () => {
  test("no network, read-only root, no capabilities, no new privileges, nobody, limits, no logs, argv as is", () => {
    const options = containerOptions(spec(["echo", "hi"], { decisionId: "dec_X" }), "sha256:abc", { owner: "o", process: "p", pid: 42 });
    assert.equal(options.name, "zt-exec-dec_X");
    assert.equal(options.Image, "sha256:abc");
    assert.deepEqual(options.Entrypoint, [""]);
    assert.deepEqual(options.Cmd, ["echo", "hi"]);
    assert.equal(options.User, "65534:65534");
    assert.equal(options.NetworkDisabled, true);
    assert.deepEqual(options.Labels, { "zt.decision_id": "dec_X", "zt.owner": "o", "zt.process": "p", "zt.pid": "42" });
    const host = options.HostConfig;
    assert.equal(host.NetworkMode, "none");
    assert.equal(host.ReadonlyRootfs, true);
    assert.deepEqual(host.CapDrop, ["ALL"]);
    assert.deepEqual(host.SecurityOpt, ["no-new-privileges:true"]);
    assert.equal(host.Privileged, false);
    assert.equal(host.Memory, 128 * 1024 * 1024);
    assert.equal(host.MemorySwap, host.Memory, "no swap beyond the memory limit");
    assert.equal(host.NanoCpus, 500_000_000);
    assert.equal(host.PidsLimit, 32);
    assert.match(host.Tmpfs["/tmp"], /^rw,nosuid,nodev,noexec,size=\d+$/);
    assert.deepEqual(host.LogConfig, { Type: "none", Config: {} });
    assert.deepEqual(host.RestartPolicy, { Name: "no", MaximumRetryCount: 0 });
    const networked = containerOptions(spec(["true"], { network: true }), "sha256:abc", { owner: "o", process: "p", pid: 42 });
    assert.equal(networked.HostConfig.NetworkMode, "bridge");
    assert.equal(networked.NetworkDisabled, false);
  });
});

brokerContract({
  name: "docker",
  broker,
  require: requireDocker,
  skip: skipWithoutDocker,
  image: { ref: SANDBOX_IMAGE },
  hostAddress,
  pidsLimitEnforced: true,
  runsAsNobody: true,
});

describe("DockerBroker (real engine)", { skip: skipWithoutDocker }, () => {
  const run = (s: CommandSpec) => Effect.runPromise(Effect.either(broker().run(s)));

  test("the engine saw one container for the run, removed after it, with no log kept", async () => {
    requireDocker();
    const since = Math.floor(Date.now() / 1000) - 1;
    const s = spec(["echo", "hi"]);
    const result = await run(s);
    assert.equal(result._tag, "Right");
    assert.equal(text(result.right.stdout), "hi\n");
    assert.match(result.right.image_id ?? "", /^sha256:[0-9a-f]{64}$/);
    const actions = await containerEvents(s.decisionId, since);
    assert.deepEqual(actions.filter((a) => a === "create" || a === "start" || a === "destroy"), ["create", "start", "destroy"]);
    const left = await engine.listContainers({ all: true, filters: { name: [containerName(s.decisionId)] } });
    assert.equal(left.length, 0, "the container is removed");
  });

  test("a timeout kills and removes the container", async () => {
    requireDocker();
    const s = spec(["sleep", "30"], { timeoutMs: 300 });
    const result = await run(s);
    assert.equal(result._tag, "Right");
    assert.equal(result.right.status, "timeout");
    assert.equal((await engine.listContainers({ all: true, filters: { name: [containerName(s.decisionId)] } })).length, 0);
  });

  test("a decision that already has a container is refused: it runs at most once", async () => {
    requireDocker();
    const s = spec(["echo", "twice?"]);
    const first = await engine.createContainer({ name: containerName(s.decisionId), Image: SANDBOX_IMAGE, Cmd: ["true"] });
    try {
      const result = await run(s);
      assert.equal(result._tag, "Left");
      assert.equal(result.left.reason, "failed");
      assert.match(result.left.message, /already has a container: a decision runs at most once/);
      assert.equal((await first.inspect()).State.Status, "created", "the existing container is left alone");
    } finally {
      await first.remove({ force: true });
    }
  });

  test("an image missing from the engine is never pulled: the run fails", async () => {
    requireDocker();
    const result = await run(spec(["true"], { image: { ref: "zt-missing-image:nowhere" } }));
    assert.equal(result._tag, "Left");
    assert.equal(result.left.reason, "failed");
    assert.match(result.left.message, /not on this Docker engine; images are never pulled/);
  });

  test("a pinned digest runs exactly that image; another digest is image_mismatch and creates nothing", async () => {
    requireDocker();
    const { Id } = await engine.getImage(SANDBOX_IMAGE).inspect();
    const pinned = await run(spec(["echo", "pinned"], { image: { ref: SANDBOX_IMAGE, digest: Id } }));
    assert.equal(pinned._tag, "Right");
    assert.equal(pinned.right.image_id, Id);
    const since = Math.floor(Date.now() / 1000) - 1;
    const other = spec(["echo", "pinned"], { image: { ref: SANDBOX_IMAGE, digest: `sha256:${"0".repeat(64)}` } });
    const mismatch = await run(other);
    assert.equal(mismatch._tag, "Left");
    assert.equal(mismatch.left.reason, "image_mismatch");
    assert.deepEqual(await containerEvents(other.decisionId, since), []);
  });

  test("an engine that is not there is unavailable", async () => {
    const missing = makeDockerBroker({ endpoint: { socketPath: "/nonexistent/docker.sock" }, identity, isGone });
    const result = await Effect.runPromise(Effect.either(missing.run(spec(["true"]))));
    assert.equal(result._tag, "Left");
    assert.ok(result.left instanceof BrokerError);
    assert.equal(result.left.reason, "unavailable");
    assert.match(result.left.message, /not reachable \(ENOENT\)/);
  });

  test("reap ends only the runs of processes that are gone: never a live instance sharing the data directory, its own, or another owner's", async () => {
    requireDocker();
    // A live second instance: a real process with a fresh lease.
    const sibling = spawn("sleep", ["60"], { stdio: "ignore" });
    const liveSibling = { id: "live-sibling", pid: sibling.pid! };
    writeFileSync(join(leaseDir, `${liveSibling.id}.lease`), "{}");
    // A live pid whose lease is stale: the process that wrote it died and its pid was reused.
    const reused = { id: "pid-reused", pid: sibling.pid! };
    writeFileSync(join(leaseDir, `${reused.id}.lease`), "{}");
    const long = new Date(Date.now() - STALE_MS - 5_000);
    utimesSync(join(leaseDir, `${reused.id}.lease`), long, long);
    // A process that crashed: its pid is gone, its lease file stayed.
    const crashed = spawn("true", { stdio: "ignore" });
    await new Promise((exited) => crashed.once("exit", exited));
    const dead = { id: "crashed", pid: crashed.pid! };
    writeFileSync(join(leaseDir, `${dead.id}.lease`), "{}");

    const create = (decisionId: string, owner: string, process: { id: string; pid: number }) =>
      engine.createContainer(containerOptions(spec(["sleep", "30"], { decisionId }), SANDBOX_IMAGE, { owner, process: process.id, pid: process.pid }));
    const ofCrashed = await create(`dec_crashed_${crypto.randomUUID()}`, identity.owner, dead);
    const ofReused = await create(`dec_reused_${crypto.randomUUID()}`, identity.owner, reused);
    const ofSibling = await create(`dec_sibling_${crypto.randomUUID()}`, identity.owner, liveSibling);
    const mine = await create(`dec_mine_${crypto.randomUUID()}`, identity.owner, { id: identity.process, pid: identity.pid });
    const foreign = await create(`dec_foreign_${crypto.randomUUID()}`, "another-owner", dead);
    try {
      await ofCrashed.start();
      await ofSibling.start();
      const reaped = await Effect.runPromise(broker().reap!());
      assert.deepEqual(reaped.map((id) => id.replace(/_[0-9a-f-]+$/, "")).sort(), ["dec_crashed", "dec_reused"]);
      await assert.rejects(ofCrashed.inspect(), "the crashed process's container is gone");
      await assert.rejects(ofReused.inspect(), "so is the one whose lease went stale");
      assert.equal((await ofSibling.inspect()).State.Status, "running", "the live sibling's run goes on");
      assert.equal((await mine.inspect()).State.Status, "created");
      assert.equal((await foreign.inspect()).State.Status, "created");
    } finally {
      sibling.kill("SIGKILL");
      for (const container of [ofCrashed, ofReused, ofSibling, mine, foreign]) await container.remove({ force: true }).catch(() => undefined);
    }
  });
});
