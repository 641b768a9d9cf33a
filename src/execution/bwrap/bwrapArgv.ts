/**
 * The bubblewrap command line for one CommandSpec. Pure: the host's layout (which of
 * /usr, /bin, /lib, /lib64 exist and which are symlinks) is an input.
 *
 * Every namespace is new (`--unshare-all`), so there is no network unless the spec asks
 * for it (`--share-net`); the command runs as uid/gid 65534 of its own user namespace
 * with all capabilities dropped; the environment is cleared and only the allowlist is
 * set; the root is empty except read-only system directories, /proc, a minimal /dev, a
 * tmpfs /tmp as scratch and the spec's read and write paths (bound after the tmpfs, so a
 * path under the host's /tmp stays visible), and that root is read-only. The command
 * starts in the spec's working directory (/tmp unless it names one). bwrap sets no
 * rlimits itself, so the command runs under `prlimit` inside the sandbox.
 */
import type { CommandSpec } from "../Broker.ts";
import { prlimitArgv } from "../prlimitArgv.ts";

export const SYSTEM_READ_PATHS = ["/usr", "/bin", "/lib", "/lib64"] as const;
/** The unprivileged uid and gid the command runs as (`nobody`). */
export const SANDBOX_UID = 65534;

export type HostEntry = { readonly kind: "dir" } | { readonly kind: "symlink"; readonly target: string } | { readonly kind: "missing" };

/** What bwrap needs of a CommandSpec: a decision's run, or a long-lived process (an MCP server) that belongs to no decision. */
export type SandboxedCommand = Omit<CommandSpec, "decisionId" | "image" | "outputCapBytes">;

/**
 * How the environment gets in: set from the spec on bwrap's command line (the default),
 * or inherited from bwrap's own environment (which the caller sets to exactly the spec's,
 * so that no value shows in the host's process list) less the variables named here.
 */
export type SandboxEnvironment = { readonly from: "argv" } | { readonly from: "parent"; readonly unset: ReadonlyArray<string> };

export function bwrapArgv(spec: SandboxedCommand, host: (path: string) => HostEntry, environment: SandboxEnvironment = { from: "argv" }): ReadonlyArray<string> {
  const args: string[] = ["--unshare-all"];
  if (spec.network) args.push("--share-net");
  args.push("--uid", String(SANDBOX_UID), "--gid", String(SANDBOX_UID));
  args.push("--die-with-parent", "--new-session", "--cap-drop", "ALL");
  if (environment.from === "argv") {
    args.push("--clearenv");
    for (const [name, value] of Object.entries(spec.env)) args.push("--setenv", name, value);
  } else {
    for (const name of environment.unset) args.push("--unsetenv", name);
  }
  for (const path of SYSTEM_READ_PATHS) {
    const entry = host(path);
    // Merged-/usr hosts have /bin -> usr/bin: recreate the link rather than bind twice.
    if (entry.kind === "symlink") args.push("--symlink", entry.target, path);
    else if (entry.kind === "dir") args.push("--ro-bind", path, path);
  }
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  for (const path of spec.readPaths) args.push("--ro-bind", path, path);
  for (const path of spec.writePaths) args.push("--bind", path, path);
  // bwrap's own root is a writable tmpfs: remounted read-only once everything is in place.
  args.push("--remount-ro", "/", "--chdir", spec.workDir ?? "/tmp", "--", ...prlimitArgv(spec), ...spec.argv);
  return args;
}
