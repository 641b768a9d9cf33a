/**
 * What the broker tests need, and how each says it is missing:
 * - bwrap and Docker (the engine and the local zt-busybox:local image) are required:
 *   without them the tests fail with a clear message, unless ZT_REQUIRE_BWRAP=0 or
 *   ZT_REQUIRE_DOCKER=0 opts out explicitly (then they are skipped, and say so). CI
 *   installs both and sets ZT_REQUIRE_DOCKER=1.
 * - nono is optional (it cannot be installed here: no crates registry): its tests run
 *   when `nono` is on PATH and are skipped with that reason otherwise, unless
 *   ZT_REQUIRE_NONO=1 makes its absence a failure.
 */
import { networkInterfaces } from "node:os";
import Docker from "dockerode";
import { loadConfig } from "../../src/config.ts";
import type { CommandSpec } from "../../src/execution/Broker.ts";
import { COMMAND_ENV } from "../../src/execution/commandSpec.ts";
import type { DockerEndpoint } from "../../src/execution/docker/DockerBroker.ts";
import { findOnPath } from "../../src/execution/runSandboxProcess.ts";

/** A CommandSpec for broker tests: a fresh decision id, the command environment, generous limits, then `overrides`. */
export function testSpec(argv: ReadonlyArray<string>, overrides: Partial<CommandSpec> = {}): CommandSpec {
  return {
    decisionId: `dec_test_${crypto.randomUUID()}`,
    argv,
    env: COMMAND_ENV,
    readPaths: [],
    writePaths: [],
    network: false,
    cpus: 1,
    memoryBytes: 256 * 1024 * 1024,
    pids: 64,
    timeoutMs: 10_000,
    outputCapBytes: 64 * 1024,
    ...overrides,
  };
}

export const BWRAP_PATH = findOnPath("bwrap");
export const BWRAP_OPTIONAL = process.env["ZT_REQUIRE_BWRAP"] === "0";

/** `skip` option for node:test: a reason when bwrap is missing and explicitly optional. */
export const skipWithoutBwrap: string | false = BWRAP_PATH === undefined && BWRAP_OPTIONAL ? "skipped: bwrap is not installed and ZT_REQUIRE_BWRAP=0" : false;

export function requireBwrap(): void {
  if (BWRAP_PATH === undefined && !BWRAP_OPTIONAL) {
    throw new Error("bubblewrap (bwrap) is not on PATH: install it (apt-get install -y bubblewrap) or set ZT_REQUIRE_BWRAP=0 to skip bwrap tests");
  }
}

export const NONO_PATH = findOnPath("nono");
const NONO_REQUIRED = process.env["ZT_REQUIRE_NONO"] === "1";

/** nono tests are optional: skipped, with the reason, when nono is not on PATH (a failure under ZT_REQUIRE_NONO=1). */
export const skipWithoutNono: string | false =
  NONO_PATH === undefined && !NONO_REQUIRED ? "skipped: nono is not on PATH (optional broker; set ZT_REQUIRE_NONO=1 to require it)" : false;

export function requireNono(): void {
  if (NONO_PATH === undefined) throw new Error("ZT_REQUIRE_NONO=1 but nono is not on PATH (cargo install nono-cli, or brew install nono)");
}

export const SANDBOX_IMAGE = "zt-busybox:local";
export const DOCKER_OPTIONAL = process.env["ZT_REQUIRE_DOCKER"] === "0";
export const DOCKER_ENDPOINT: DockerEndpoint = loadConfig(process.env).docker;
/** A dockerode client of the same engine, for tests that look at what the engine saw. */
export const engine = new Docker({ ...DOCKER_ENDPOINT });

async function problem(): Promise<string | undefined> {
  try {
    await Promise.race([engine.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error("no answer in 3 s")), 3000))]);
  } catch (error) {
    return `no Docker engine answers (${(error as Error).message}): start dockerd (CI: .ci/run does) or set ZT_REQUIRE_DOCKER=0 to skip Docker tests`;
  }
  try {
    await engine.getImage(SANDBOX_IMAGE).inspect();
  } catch {
    return `the image ${SANDBOX_IMAGE} is missing: build it with \`npm run sandbox:image\` (or set ZT_REQUIRE_DOCKER=0 to skip Docker tests)`;
  }
  return undefined;
}

export const DOCKER_PROBLEM = await problem();

/** `skip` option for node:test: a reason when Docker is missing and explicitly optional. */
export const skipWithoutDocker: string | false = DOCKER_PROBLEM !== undefined && DOCKER_OPTIONAL ? `skipped: ${DOCKER_PROBLEM}` : false;

export function requireDocker(): void {
  if (DOCKER_PROBLEM !== undefined && !DOCKER_OPTIONAL) throw new Error(DOCKER_PROBLEM);
}

/** What the engine reported for containers of one decision between two times (unix seconds). */
export async function containerEvents(decisionId: string, since: number): Promise<ReadonlyArray<string>> {
  // The engine publishes an event a moment after the call that caused it returns, and
  // holds the answer until `until`: a quarter second from now (fractional, so not the next whole second).
  const until = Number(((Date.now() + 250) / 1000).toFixed(3));
  const stream = await engine.getEvents({ since, until, filters: { type: ["container"], label: [`zt.decision_id=${decisionId}`] } });
  let text = "";
  for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString("utf8");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => (JSON.parse(line) as { Action: string }).Action);
}

/**
 * The host's first non-loopback IPv4 address: a sandbox whose network is on reaches the
 * host there (bwrap sharing the host's network, a container through the bridge).
 */
export function hostAddress(): Promise<string> {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === "IPv4" && !entry.internal) return Promise.resolve(entry.address);
  }
  return Promise.reject(new Error("this host has no non-loopback IPv4 address to probe"));
}
