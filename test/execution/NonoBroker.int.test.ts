/**
 * The nono broker. nono is optional and cannot be installed on this build machine (no
 * crates registry): the argv mapping is tested here always; the contract suite against
 * the real nono runs where `nono` is on PATH and is skipped with that reason elsewhere.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Effect } from "effect";
import type { CommandSpec } from "../../src/execution/Broker.ts";
import { COMMAND_ENV } from "../../src/execution/commandSpec.ts";
import { nonoArgv, nonoEnv } from "../../src/execution/nono/nonoArgv.ts";
import { makeNonoBroker } from "../../src/execution/nono/NonoBroker.ts";
import { brokerContract } from "./brokerContract.ts";
import { hostAddress, NONO_PATH, requireNono, skipWithoutNono, testSpec } from "./brokerSupport.ts";

const spec = (overrides: Partial<CommandSpec> = {}) =>
  testSpec(["echo", "hi"], { readPaths: ["/srv/in"], writePaths: ["/srv/out"], memoryBytes: 1024, pids: 8, timeoutMs: 2_000, outputCapBytes: 64, ...overrides });

describe("nono argv (pure)", () => {
  test("system and read paths readable, scratch and write paths writable, network blocked, limits through prlimit", () => {
    assert.deepEqual(nonoArgv(spec(), ["/usr", "/lib"], "/tmp/zt-nono-x"), [
      "--silent", "run",
      "--read", "/usr", "--read", "/lib", "--read", "/srv/in",
      "--write", "/tmp/zt-nono-x", "--write", "/srv/out",
      "--net-block",
      "--", "prlimit", "--as=1024", "--cpu=2", "--nproc=8", "--", "echo", "hi",
    ]);
    assert.ok(!nonoArgv(spec({ network: true }), [], "/s").includes("--net-block"));
  });

  test("home and temp are the scratch directory: nono shares the host's /tmp", () => {
    assert.deepEqual(nonoEnv(spec(), "/tmp/zt-nono-x"), { ...COMMAND_ENV, HOME: "/tmp/zt-nono-x", TMPDIR: "/tmp/zt-nono-x" });
  });

  test("without nono on PATH a run is unavailable, and nothing else happens", async () => {
    const result = await Effect.runPromise(Effect.either(makeNonoBroker({ path: "/nonexistent" }).run(spec())));
    assert.equal(result._tag, "Left");
    assert.equal(result.left.reason, "unavailable");
    assert.match(result.left.message, /nono is not on PATH/);
  });
});

brokerContract({
  name: `nono${NONO_PATH === undefined ? "" : ` (${NONO_PATH})`}`,
  broker: () => makeNonoBroker(),
  require: requireNono,
  skip: skipWithoutNono,
  hostAddress,
  pidsLimitEnforced: false,
  // nono confines what the caller may touch; it keeps the caller's uid.
  runsAsNobody: false,
});
