/**
 * The bubblewrap command line for one CommandSpec. Pure: the host's layout (which of
 * /usr, /bin, /lib, /lib64 exist and which are symlinks) is an input.
 *
 * Every namespace is new (`--unshare-all`), so there is no network unless the spec asks
 * for it (`--share-net`); all capabilities are dropped; the environment is cleared and
 * only the allowlist is set; the root is empty except read-only system directories, the
 * spec's read and write paths, /proc, a minimal /dev and a tmpfs /tmp as scratch.
 */
import type { CommandSpec } from "../Broker.ts";

export const SYSTEM_READ_PATHS = ["/usr", "/bin", "/lib", "/lib64"] as const;

export type HostEntry = { readonly kind: "dir" } | { readonly kind: "symlink"; readonly target: string } | { readonly kind: "missing" };

export function bwrapArgv(spec: CommandSpec, host: (path: string) => HostEntry): ReadonlyArray<string> {
  const args: string[] = ["--unshare-all"];
  if (spec.network) args.push("--share-net");
  args.push("--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv");
  for (const [name, value] of Object.entries(spec.env)) args.push("--setenv", name, value);
  for (const path of SYSTEM_READ_PATHS) {
    const entry = host(path);
    // Merged-/usr hosts have /bin -> usr/bin: recreate the link rather than bind twice.
    if (entry.kind === "symlink") args.push("--symlink", entry.target, path);
    else if (entry.kind === "dir") args.push("--ro-bind", path, path);
  }
  for (const path of spec.readPaths) args.push("--ro-bind", path, path);
  for (const path of spec.writePaths) args.push("--bind", path, path);
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp", "--", ...resourceLimits(spec), ...spec.argv);
  return args;
}

/**
 * bwrap sets no rlimits itself: limits asked for run the command under util-linux
 * `prlimit` inside the sandbox (address space, CPU seconds, processes of the user).
 */
export function resourceLimits(spec: Pick<CommandSpec, "cpu" | "memoryBytes" | "pids">): ReadonlyArray<string> {
  const limits: string[] = [];
  if (spec.memoryBytes !== undefined) limits.push(`--as=${spec.memoryBytes}`);
  if (spec.cpu !== undefined) limits.push(`--cpu=${spec.cpu}`);
  if (spec.pids !== undefined) limits.push(`--nproc=${spec.pids}`);
  return limits.length === 0 ? [] : ["prlimit", ...limits, "--"];
}
