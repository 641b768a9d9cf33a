import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Effect } from "effect";
import { BrokerError, type CommandSpec } from "../../src/execution/Broker.ts";
import { containerName, containerOptions } from "../../src/execution/docker/containerOptions.ts";
import { makeDockerBroker } from "../../src/execution/docker/DockerBroker.ts";
import { brokerContract } from "./brokerContract.ts";
import { containerEvents, hostAddress, DOCKER_ENDPOINT, engine, requireDocker, SANDBOX_IMAGE, skipWithoutDocker, testSpec } from "./brokerSupport.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const identity = { owner: `test-${crypto.randomUUID().slice(0, 8)}`, process: crypto.randomUUID() };
const broker = () => makeDockerBroker({ endpoint: DOCKER_ENDPOINT, identity });

const spec = (argv: ReadonlyArray<string>, overrides: Partial<CommandSpec> = {}) =>
  testSpec(argv, { image: { ref: SANDBOX_IMAGE }, cpus: 0.5, memoryBytes: 128 * 1024 * 1024, pids: 32, timeoutMs: 5_000, ...overrides });

describe("container options (pure)", () => {
  test("no network, read-only root, no capabilities, no new privileges, nobody, limits, no logs, argv as is", () => {
    const options = containerOptions(spec(["echo", "hi"], { decisionId: "dec_X" }), "sha256:abc", { owner: "o", process: "p" });
    assert.equal(options.name, "zt-exec-dec_X");
    assert.equal(options.Image, "sha256:abc");
    assert.deepEqual(options.Entrypoint, [""]);
    assert.deepEqual(options.Cmd, ["echo", "hi"]);
    assert.equal(options.User, "65534:65534");
    assert.equal(options.NetworkDisabled, true);
    assert.deepEqual(options.Labels, { "zt.decision_id": "dec_X", "zt.owner": "o", "zt.process": "p" });
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
    const networked = containerOptions(spec(["true"], { network: true }), "sha256:abc", { owner: "o", process: "p" });
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
    const missing = makeDockerBroker({ endpoint: { socketPath: "/nonexistent/docker.sock" }, identity });
    const result = await Effect.runPromise(Effect.either(missing.run(spec(["true"]))));
    assert.equal(result._tag, "Left");
    assert.ok(result.left instanceof BrokerError);
    assert.equal(result.left.reason, "unavailable");
    assert.match(result.left.message, /not reachable \(ENOENT\)/);
  });

  test("reap removes another process's containers of this owner and answers their decisions; never its own or another owner's", async () => {
    requireDocker();
    const create = (decisionId: string, owner: string, processId: string) =>
      engine.createContainer(containerOptions(spec(["sleep", "30"], { decisionId }), SANDBOX_IMAGE, { owner, process: processId }));
    const stale = await create(`dec_stale_${crypto.randomUUID()}`, identity.owner, "earlier-process");
    const mine = await create(`dec_mine_${crypto.randomUUID()}`, identity.owner, identity.process);
    const foreign = await create(`dec_foreign_${crypto.randomUUID()}`, "another-owner", "earlier-process");
    try {
      await stale.start();
      const reaped = await Effect.runPromise(broker().reap!());
      assert.equal(reaped.length, 1);
      assert.match(reaped[0]!, /^dec_stale_/);
      await assert.rejects(stale.inspect(), "the stale container is gone");
      assert.equal((await mine.inspect()).State.Status, "created");
      assert.equal((await foreign.inspect()).State.Status, "created");
    } finally {
      for (const container of [stale, mine, foreign]) await container.remove({ force: true }).catch(() => undefined);
    }
  });
});
