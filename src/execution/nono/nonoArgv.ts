/**
 * The `nono` command line for one CommandSpec (nono: Landlock on Linux, Seatbelt on
 * macOS). Pure. nono grants nothing it is not told: the system directories that exist
 * on the host and the spec's read paths are readable, the run's scratch directory and
 * the spec's write paths writable, and the network is blocked unless the spec allows it.
 * `--net-block` is the spelling every nono release accepts (newer ones also take
 * `--block-net`). nono sets no rlimits, so the command runs under `prlimit`.
 */
import type { CommandSpec } from "../Broker.ts";
import { prlimitArgv } from "../prlimitArgv.ts";

export function nonoArgv(spec: CommandSpec, systemPaths: ReadonlyArray<string>, scratchDir: string): ReadonlyArray<string> {
  const args: string[] = ["--silent", "run"];
  for (const path of [...systemPaths, ...spec.readPaths]) args.push("--read", path);
  for (const path of [scratchDir, ...spec.writePaths]) args.push("--write", path);
  if (!spec.network) args.push("--net-block");
  args.push("--", ...prlimitArgv(spec), ...spec.argv);
  return args;
}

/** The command's environment under nono: the allowlist, with its home and temp in the scratch directory (nono shares the host's /tmp). */
export function nonoEnv(spec: CommandSpec, scratchDir: string): Readonly<Record<string, string>> {
  return { ...spec.env, HOME: scratchDir, TMPDIR: scratchDir };
}
