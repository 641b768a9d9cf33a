/**
 * The Broker port's contract suite: every adapter runs these cases against its real
 * sandbox. The escape cases assert the denial from inside the sandbox, each beside a
 * control that shows the probe itself works (the same connect reaches the listener when
 * the network is on, the same write succeeds in the scratch directory).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import type { BrokerShape, CommandSpec, ExecutionOutcome, ImageSpec } from "../../src/execution/Broker.ts";
import { testSpec } from "./brokerSupport.ts";

export interface BrokerContractOptions {
  readonly name: string;
  readonly broker: () => BrokerShape;
  /** Called once before the cases; throws when the sandbox is missing and required. */
  readonly require: () => void;
  readonly skip: string | false;
  readonly image?: ImageSpec;
  /** The host's address as a sandbox with the network on reaches it. */
  readonly hostAddress: () => Promise<string>;
  /** Whether `pids` is a hard limit for this broker when the control plane runs as it does here. */
  readonly pidsLimitEnforced: boolean;
  /** Whether the command runs as uid 65534 with no capabilities (nono keeps the caller's uid instead). */
  readonly runsAsNobody: boolean;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Host processes whose command line holds `marker` (sandboxes share the host kernel, so their processes show here). */
function hostProcessesWith(marker: string): number {
  let found = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "latin1").includes(marker)) found += 1;
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export function brokerContract(options: BrokerContractOptions): void {
  describe(`Broker contract: ${options.name} (real sandbox)`, { skip: options.skip }, () => {
    let broker: BrokerShape;
    before(() => {
      options.require();
      broker = options.broker();
    });

    const spec = (argv: ReadonlyArray<string>, overrides: Partial<CommandSpec> = {}): CommandSpec =>
      testSpec(argv, { ...(options.image === undefined ? {} : { image: options.image }), ...overrides });
    const run = (s: CommandSpec): Promise<ExecutionOutcome> => Effect.runPromise(broker.run(s));

    test("echo: stdout, stderr and exit code", async () => {
      const outcome = await run(spec(["sh", "-c", "echo hi; echo oops >&2"]));
      assert.equal(outcome.status, "completed");
      assert.equal(outcome.exit_code, 0);
      assert.equal(text(outcome.stdout), "hi\n");
      assert.equal(text(outcome.stderr), "oops\n");
      assert.equal(outcome.truncated, false);
      assert.ok(outcome.duration_ms >= 0);
    });

    test("a non-zero exit is completed with that code", async () => {
      const outcome = await run(spec(["sh", "-c", "exit 3"]));
      assert.equal(outcome.status, "completed");
      assert.equal(outcome.exit_code, 3);
    });

    describe("no network", () => {
      let server: Server;
      let port: number;
      let address: string;
      before(async () => {
        server = createServer((socket) => socket.end("reachable\n"));
        // Every interface: whatever address the sandbox might find, the listener is there.
        await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
        port = (server.address() as { port: number }).port;
        address = await options.hostAddress();
      });
      after(() => new Promise<void>((resolve) => server.close(() => resolve())));

      const probe = (host: string) => ["sh", "-c", `busybox nc -w 2 ${host} ${port} </dev/null && echo connected`];

      test("a listener on the host cannot be reached from inside, by its address or by loopback", async () => {
        for (const host of [address, "127.0.0.1"]) {
          const outcome = await run(spec(probe(host)));
          assert.equal(outcome.status, "completed");
          assert.notEqual(outcome.exit_code, 0, `connect to ${host} must fail: ${text(outcome.stdout)}`);
          assert.doesNotMatch(text(outcome.stdout), /reachable|connected/);
        }
      });

      test("control: the same probe reaches the listener when the network is on", async () => {
        const outcome = await run(spec(probe(address), { network: true }));
        assert.equal(outcome.exit_code, 0, text(outcome.stderr));
        assert.match(text(outcome.stdout), /reachable/);
      });
    });

    test("cannot write the root filesystem; /tmp is scratch", async () => {
      const outcome = await run(spec(["sh", "-c", "echo x > /zt-escape; echo root=$?; echo x > /bin/zt-escape; echo bin=$?; echo ok > /tmp/x && cat /tmp/x"]));
      assert.equal(outcome.exit_code, 0, text(outcome.stderr));
      assert.match(text(outcome.stdout), /^root=[1-9]\d*\nbin=[1-9]\d*\nok\n$/);
    });

    if (options.runsAsNobody) {
      test("runs as a non-root uid with no capabilities", async () => {
        const outcome = await run(spec(["sh", "-c", "id -u; id -g; grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status"]));
        assert.equal(outcome.exit_code, 0, text(outcome.stderr));
        const [uid, gid, ...caps] = text(outcome.stdout).trim().split("\n");
        assert.notEqual(uid, "0");
        assert.notEqual(gid, "0");
        assert.equal(uid, "65534");
        for (const line of caps) assert.match(line!, /:\s+0000000000000000$/, `no capabilities: ${line}`);
      });
    }

    test("the environment is the allowlist alone", async () => {
      process.env["ZT_EXECUTION_TEST_SECRET"] = "must-not-leak";
      try {
        const outcome = await run(spec(["env"], { env: { PATH: "/usr/bin:/bin", ALLOWED: "yes" } }));
        const names = text(outcome.stdout).trim().split("\n").map((line) => line.split("=")[0]);
        assert.ok(names.includes("ALLOWED") && names.includes("PATH"), text(outcome.stdout));
        assert.doesNotMatch(text(outcome.stdout), /must-not-leak|ZT_EXECUTION_TEST_SECRET/);
      } finally {
        delete process.env["ZT_EXECUTION_TEST_SECRET"];
      }
    });

    test("a sleep past the timeout is killed and reported as timeout", async () => {
      const marker = `zt-sleeper-${crypto.randomUUID()}`;
      const started = performance.now();
      const outcome = await run(spec(["sh", "-c", "echo before; sleep 30", marker], { timeoutMs: 500 }));
      assert.equal(outcome.status, "timeout");
      assert.equal(outcome.exit_code, null);
      assert.equal(text(outcome.stdout), "before\n", "output written before the kill is kept");
      assert.ok(performance.now() - started < 8_000, "the kill is prompt");
      assert.equal(hostProcessesWith(marker), 0, "nothing of the run survives the kill");
    });

    test("output beyond the cap is truncated", async () => {
      const outcome = await run(spec(["head", "-c", "200000", "/dev/zero"], { outputCapBytes: 1024 }));
      assert.equal(outcome.status, "completed");
      assert.equal(outcome.stdout.length, 1024);
      assert.equal(outcome.truncated, true);
    });

    test("a fork bomb ends with the run and leaves nothing behind", async () => {
      const marker = `zt-bomb-${crypto.randomUUID()}`;
      const outcome = await run(spec(["sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 30", marker], { timeoutMs: 2_000, pids: 32 }));
      assert.ok(outcome.status === "timeout" || outcome.status === "completed", outcome.status);
      assert.equal(hostProcessesWith(marker), 0, "no process of the bomb survives the run");
    });

    if (options.pidsLimitEnforced) {
      test("a process flood is contained by the pids limit", async () => {
        // echo is a builtin, so the last number printed is how many sleeps the shell started before a fork failed.
        const outcome = await run(spec(["sh", "-c", "i=0; while [ $i -lt 200 ]; do echo $i; sleep 20 & i=$((i+1)); done"], { pids: 24, timeoutMs: 8_000 }));
        assert.equal(outcome.status, "completed", text(outcome.stderr));
        assert.notEqual(outcome.exit_code, 0);
        const started = Number(text(outcome.stdout).trim().split("\n").at(-1));
        assert.ok(started > 1 && started < 24, `processes started: ${started} (limit 24)`);
        assert.match(text(outcome.stderr), /can't fork|Cannot fork|Resource temporarily unavailable/);
      });
    }

    test("the memory limit applies inside", async () => {
      // 64 MiB requested, 16 MiB allowed: the allocation fails or the process is killed.
      const outcome = await run(spec(["sh", "-c", "head -c 67108864 /dev/zero | tr '\\0' 'x' | { v=$(cat); echo ${#v}; }"], { memoryBytes: 16 * 1024 * 1024 }));
      assert.ok(outcome.status === "killed" || outcome.exit_code !== 0 || text(outcome.stdout).trim() !== "67108864", `ran unconstrained: ${outcome.status} ${outcome.exit_code}`);
    });
  });
}
