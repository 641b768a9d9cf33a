import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import type { CommandSpec, ExecutionOutcome } from "../../src/execution/Broker.ts";
import { BrokerError } from "../../src/execution/Broker.ts";
import { bwrapArgv } from "../../src/execution/bwrap/bwrapArgv.ts";
import { makeBwrapBroker } from "../../src/execution/bwrap/BwrapBroker.ts";
import { cappedBuffer } from "../../src/execution/capOutput.ts";
import { COMMAND_ENV, completedView } from "../../src/execution/ExecutionService.ts";
import { sha256Hex } from "../../src/kernel/hashing.ts";
import { requireBwrap, skipWithoutBwrap } from "./bwrapSupport.ts";

const broker = makeBwrapBroker();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function spec(argv: ReadonlyArray<string>, overrides: Partial<CommandSpec> = {}): CommandSpec {
  return { argv, env: COMMAND_ENV, readPaths: [], writePaths: [], network: false, timeoutMs: 5_000, outputCapBytes: 64 * 1024, ...overrides };
}

const run = (s: CommandSpec): Promise<ExecutionOutcome> => Effect.runPromise(broker.run(s));

describe("capped output and argv (pure)", () => {
  test("a capped buffer keeps the first bytes and flags the rest", () => {
    const buffer = cappedBuffer(5);
    buffer.push(new TextEncoder().encode("abc"));
    assert.equal(buffer.truncated(), false);
    buffer.push(new TextEncoder().encode("defg"));
    buffer.push(new TextEncoder().encode("h"));
    assert.equal(text(buffer.bytes()), "abcde");
    assert.equal(buffer.truncated(), true);
  });

  test("the argv isolates everything and only shares the network on request", () => {
    const host = (path: string) => (path === "/usr" ? ({ kind: "dir" } as const) : path === "/lib64" ? ({ kind: "missing" } as const) : ({ kind: "symlink", target: `usr${path}` } as const));
    const args = bwrapArgv(spec(["echo", "hi"], { env: { PATH: "/usr/bin" } }), host);
    assert.deepEqual(args, [
      "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
      "--setenv", "PATH", "/usr/bin",
      "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
      "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp", "--", "echo", "hi",
    ]);
    assert.ok(bwrapArgv(spec(["true"], { network: true }), host).includes("--share-net"));
  });
});

describe("BwrapBroker (real bwrap)", { skip: skipWithoutBwrap }, () => {
  before(() => requireBwrap());

  test("echo: stdout, exit code and hashes of the output", async () => {
    const outcome = await run(spec(["echo", "hi"]));
    assert.equal(outcome.status, "completed");
    assert.equal(outcome.exit_code, 0);
    assert.equal(text(outcome.stdout), "hi\n");
    assert.equal(outcome.truncated, false);
    const { view, event } = completedView("dec_x", "bwrap", outcome);
    assert.equal(view.stdout_sha256, sha256Hex("hi\n"));
    assert.equal(event.stdout_sha256, sha256Hex("hi\n"));
    assert.equal(event.stderr_sha256, sha256Hex(""));
  });

  test("a non-zero exit code is reported as completed with that code", async () => {
    const outcome = await run(spec(["sh", "-c", "echo oops >&2; exit 3"]));
    assert.equal(outcome.status, "completed");
    assert.equal(outcome.exit_code, 3);
    assert.equal(text(outcome.stderr), "oops\n");
  });

  describe("no network", () => {
    let server: Server;
    let port: number;
    before(async () => {
      server = createServer((socket) => socket.end("reachable\n"));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as { port: number }).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test("a loopback listener on the host cannot be reached from inside", async () => {
      // bash's /dev/tcp connects without any networking tool in the sandbox.
      const probe = ["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`];
      const outcome = await run(spec(probe));
      assert.equal(outcome.status, "completed");
      assert.notEqual(outcome.exit_code, 0);
      assert.doesNotMatch(text(outcome.stdout), /connected/);
    });
  });

  test("cannot write outside /tmp; /tmp is scratch", async () => {
    const outside = await run(spec(["sh", "-c", "echo x > /usr/x"]));
    assert.notEqual(outside.exit_code, 0);
    const scratch = await run(spec(["sh", "-c", "echo ok > /tmp/x && cat /tmp/x"]));
    assert.equal(scratch.exit_code, 0);
    assert.equal(text(scratch.stdout), "ok\n");
  });

  test("a sleep past the timeout is killed and reported as timeout", async () => {
    const started = performance.now();
    const outcome = await run(spec(["sleep", "30"], { timeoutMs: 300 }));
    assert.equal(outcome.status, "timeout");
    assert.equal(outcome.exit_code, null);
    assert.ok(performance.now() - started < 5_000, "the kill is prompt");
  });

  test("output beyond the cap is truncated", async () => {
    const outcome = await run(spec(["head", "-c", "100000", "/dev/zero"], { outputCapBytes: 1024 }));
    assert.equal(outcome.status, "completed");
    assert.equal(outcome.stdout.length, 1024);
    assert.equal(outcome.truncated, true);
  });

  test("the environment is cleared except the allowlist", async () => {
    process.env["ZT_EXECUTION_TEST_SECRET"] = "must-not-leak";
    try {
      const outcome = await run(spec(["env"], { env: { PATH: "/usr/bin:/bin", ALLOWED: "yes" } }));
      const lines = text(outcome.stdout).trim().split("\n").sort();
      // bwrap itself sets PWD for --chdir; nothing else comes from the host.
      assert.deepEqual(lines, ["ALLOWED=yes", "PATH=/usr/bin:/bin", "PWD=/tmp"]);
      assert.doesNotMatch(text(outcome.stdout), /must-not-leak/);
    } finally {
      delete process.env["ZT_EXECUTION_TEST_SECRET"];
    }
  });

  test("memory and CPU limits apply inside the sandbox", async () => {
    const outcome = await run(spec(["sh", "-c", "ulimit -v; ulimit -t"], { memoryBytes: 256 * 1024 * 1024, cpu: 7 }));
    assert.equal(outcome.exit_code, 0, new TextDecoder().decode(outcome.stderr));
    assert.equal(text(outcome.stdout), `${256 * 1024}\n7\n`);
  });

  test("unavailable when bwrap is not on PATH", async () => {
    const missing = makeBwrapBroker({ path: "/nonexistent" });
    const result = await Effect.runPromise(Effect.either(missing.run(spec(["true"]))));
    assert.equal(result._tag, "Left");
    assert.ok(result.left instanceof BrokerError);
    assert.equal(result.left.reason, "unavailable");
    assert.equal(result.left.isRetryable, false);
  });
});
