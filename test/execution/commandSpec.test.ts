import assert from "node:assert/strict";
import { test } from "node:test";
import { COMMAND_ENV, commandSpec, DEFAULT_LIMITS } from "../../src/execution/commandSpec.ts";
import { allowedImage, brokerChecks, DEFAULT_TIMEOUT_MS } from "../../src/policy/brokerChecks.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;

test("a rule without limits runs with the defaults; the request's timeout and the fixed environment", () => {
  const spec = commandSpec("dec_1", { broker: "bwrap", command: ["echo", "hi"] }, {});
  assert.deepEqual(spec, {
    decisionId: "dec_1",
    argv: ["echo", "hi"],
    env: COMMAND_ENV,
    readPaths: [],
    writePaths: [],
    network: false,
    cpus: DEFAULT_LIMITS.cpus,
    memoryBytes: DEFAULT_LIMITS.memory_mb * 1024 * 1024,
    pids: DEFAULT_LIMITS.pids,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    outputCapBytes: DEFAULT_LIMITS.output_bytes,
  });
});

test("the rule's limits apply; the network only when both the request and the rule ask for it", () => {
  const limits = { memory_mb: 48, cpus: 0.25, pids: 12, output_bytes: 10, timeout_ms: 9_000 };
  const spec = commandSpec("dec_2", { broker: "bwrap", command: ["true"], timeout_ms: 700, network: true }, { limits, network: true });
  assert.equal(spec.memoryBytes, 48 * 1024 * 1024);
  assert.equal(spec.cpus, 0.25);
  assert.equal(spec.pids, 12);
  assert.equal(spec.outputCapBytes, 10);
  assert.equal(spec.timeoutMs, 700);
  assert.equal(spec.network, true);
  assert.equal(commandSpec("dec_3", { broker: "bwrap", command: ["true"], network: true }, {}).network, false, "a rule without network never grants it");
});

test("docker runs carry the allowed image, with the digest a pinned entry names", () => {
  assert.deepEqual(commandSpec("dec_4", { broker: "docker", image: "zt-busybox:local", command: ["true"] }, { images: ["zt-busybox:local"] }).image, { ref: "zt-busybox:local" });
  assert.deepEqual(commandSpec("dec_5", { broker: "docker", image: "zt-busybox:local", command: ["true"] }, { images: [`zt-busybox:local@${DIGEST}`] }).image, {
    ref: "zt-busybox:local",
    digest: DIGEST,
  });
  assert.equal(commandSpec("dec_6", { broker: "bwrap", image: "zt-busybox:local", command: ["true"] }, { images: ["zt-busybox:local"] }).image, undefined, "only docker runs images");
});

test("image matching: exact names, a pinned entry admits its name and its pinned form, nothing else", () => {
  const pinned = { images: [`zt-busybox:local@${DIGEST}`] };
  assert.deepEqual(allowedImage(pinned, "zt-busybox:local"), { ref: "zt-busybox:local", digest: DIGEST });
  assert.deepEqual(allowedImage(pinned, `zt-busybox:local@${DIGEST}`), { ref: `zt-busybox:local@${DIGEST}`, digest: DIGEST });
  assert.equal(allowedImage(pinned, `zt-busybox:local@sha256:${"cd".repeat(32)}`), undefined);
  assert.equal(allowedImage(pinned, "zt-busybox:latest"), undefined);
  assert.equal(allowedImage({ images: ["zt-busybox:local"] }, "zt-busybox"), undefined, "no implicit tag");
  assert.equal(allowedImage({}, "zt-busybox:local"), undefined);
  assert.equal(allowedImage({ images: ["zt-busybox:local"] }, undefined), undefined);
});

test("broker checks: a timeout over the rule's limit is broker_not_allowed, at the limit it passes", () => {
  const manifest = { execution: { rules: [{ actor: "a", action: "x", brokers: { bwrap: { limits: { timeout_ms: 1000 } } } }] } };
  const run = (timeout_ms: number) => brokerChecks(manifest, "a", "x", { broker: "bwrap", command: ["true"], timeout_ms }).map((check) => check.run());
  assert.deepEqual(run(1000), [null]);
  assert.equal(run(1001)[0]?.reason, "broker_not_allowed");
});
