/**
 * The nono adapter of the Broker port: drives the `nono` CLI (Landlock/Seatbelt) with the
 * CommandSpec mapped to its flags (see nonoArgv). Each run gets a fresh scratch
 * directory as its working directory, home and temp, removed afterwards. Used where
 * `nono` is on PATH; elsewhere a run answers `unavailable`. The timeout kills nono's
 * process group, which holds the sandboxed command.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect } from "effect";
import type { BrokerShape } from "../Broker.ts";
import { SYSTEM_READ_PATHS } from "../bwrap/bwrapArgv.ts";
import { runSandboxProcess, withTool } from "../runSandboxProcess.ts";
import { nonoArgv, nonoEnv } from "./nonoArgv.ts";

export const NONO = "nono";

export function makeNonoBroker(options: { readonly path?: string } = {}): BrokerShape {
  return {
    name: "nono",
    run: (spec) =>
      withTool(NONO, options.path, (executable) =>
        Effect.acquireUseRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "zt-nono-"))),
          (scratch) => {
            const systemPaths = SYSTEM_READ_PATHS.filter((path) => existsSync(path));
            return runSandboxProcess({ tool: NONO, executable, args: nonoArgv(spec, systemPaths, scratch), env: nonoEnv(spec, scratch), cwd: scratch }, spec);
          },
          (scratch) => Effect.sync(() => rmSync(scratch, { recursive: true, force: true })),
        ),
      ),
  };
}
