import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Effect } from "effect";
import { BrokerError, type CommandSpec } from "../../src/execution/Broker.ts";
import { bwrapArgv } from "../../src/execution/bwrap/bwrapArgv.ts";
import { makeBwrapBroker } from "../../src/execution/bwrap/BwrapBroker.ts";
import { cappedBuffer } from "../../src/execution/capOutput.ts";
import { cpuSeconds, prlimitArgv } from "../../src/execution/prlimitArgv.ts";
import { brokerContract } from "./brokerContract.ts";
import { hostAddress, requireBwrap, skipWithoutBwrap, testSpec } from "./brokerSupport.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

const spec = (argv: ReadonlyArray<string>, overrides: Partial<CommandSpec> = {}) => testSpec(argv, { timeoutMs: 5_000, ...overrides });

describe("capped output, limits and argv (pure)", () => {
  test("a capped buffer keeps the first bytes and flags the rest", () => {
    const buffer = cappedBuffer(5);
    buffer.push(new TextEncoder().encode("abc"));
    assert.equal(buffer.truncated(), false);
    buffer.push(new TextEncoder().encode("defg"));
    buffer.push(new TextEncoder().encode("h"));
    assert.equal(text(buffer.bytes()), "abcde");
    assert.equal(buffer.truncated(), true);
  });

  test("CPU seconds are the CPU share over the timeout, rounded up, at least one", () => {
    assert.equal(cpuSeconds({ cpus: 1, timeoutMs: 5_000 }), 5);
    assert.equal(cpuSeconds({ cpus: 0.5, timeoutMs: 3_001 }), 2);
    assert.equal(cpuSeconds({ cpus: 0.01, timeoutMs: 100 }), 1);
    assert.deepEqual(prlimitArgv({ cpus: 2, timeoutMs: 1_500, memoryBytes: 1024, pids: 9 }), ["prlimit", "--as=1024", "--cpu=3", "--nproc=9", "--"]);
  });

  test("the argv isolates everything, runs as nobody and only shares the network on request", () => {
    const host = (path: string) => (path === "/usr" ? ({ kind: "dir" } as const) : path === "/lib64" ? ({ kind: "missing" } as const) : ({ kind: "symlink", target: `usr${path}` } as const));
    const args = bwrapArgv(spec(["echo", "hi"], { env: { PATH: "/usr/bin" } }), host);
    assert.deepEqual(args, [
      "--unshare-all", "--uid", "65534", "--gid", "65534", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
      "--setenv", "PATH", "/usr/bin",
      "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
      "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", "/tmp",
      "--", "prlimit", `--as=${256 * 1024 * 1024}`, "--cpu=5", "--nproc=64", "--", "echo", "hi",
    ]);
    assert.ok(bwrapArgv(spec(["true"], { network: true }), host).includes("--share-net"));
    assert.ok(!args.includes("--share-net"));
  });
});

brokerContract({
  name: "bwrap",
  broker: () => makeBwrapBroker(),
  require: requireBwrap,
  skip: skipWithoutBwrap,
  hostAddress,
  // RLIMIT_NPROC does not bind root, which the control plane runs as here (see prlimitArgv).
  pidsLimitEnforced: false,
  runsAsNobody: true,
});

describe("BwrapBroker (real bwrap)", { skip: skipWithoutBwrap }, () => {
  test("unavailable when bwrap is not on PATH", async () => {
    const missing = makeBwrapBroker({ path: "/nonexistent" });
    const result = await Effect.runPromise(Effect.either(missing.run(spec(["true"]))));
    assert.equal(result._tag, "Left");
    assert.ok(result.left instanceof BrokerError);
    assert.equal(result.left.reason, "unavailable");
  });

  test("a write path under the host's /tmp stays visible over the scratch tmpfs, and the command starts in its working directory", async () => {
    requireBwrap();
    const dir = mkdtempSync(join(tmpdir(), "zt-bwrap-workdir-"));
    try {
      const outcome = await Effect.runPromise(makeBwrapBroker().run(spec(["sh", "-c", "pwd; echo written > out.txt"], { writePaths: [dir], workDir: dir })));
      assert.equal(outcome.exit_code, 0, text(outcome.stderr));
      assert.equal(text(outcome.stdout), `${dir}\n`);
      assert.equal(readFileSync(join(dir, "out.txt"), "utf8"), "written\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("CPU seconds apply inside the sandbox", async () => {
    requireBwrap();
    const outcome = await Effect.runPromise(makeBwrapBroker().run(spec(["sh", "-c", "ulimit -t; ulimit -v"], { cpus: 1, timeoutMs: 7_000, memoryBytes: 256 * 1024 * 1024 })));
    assert.equal(outcome.exit_code, 0, text(outcome.stderr));
    assert.equal(text(outcome.stdout), `7\n${256 * 1024}\n`);
  });
});
