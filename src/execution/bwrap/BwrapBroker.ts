/**
 * The bubblewrap adapter of the Broker port, for Linux hosts without Docker: runs the
 * argv in fresh namespaces with a read-only system, a tmpfs /tmp, no capabilities, an
 * unprivileged uid and only the allowlisted environment (see bwrapArgv). The wall-clock
 * timeout kills bwrap's process group; `--die-with-parent` and the new PID namespace
 * then take every process inside down with it, also when the control plane dies.
 */
import { lstatSync, readlinkSync } from "node:fs";
import type { BrokerShape } from "../Broker.ts";
import { runSandboxProcess, withTool } from "../runSandboxProcess.ts";
import { bwrapArgv, type HostEntry } from "./bwrapArgv.ts";

export const BWRAP = "bwrap";

/** What is at a system path on this host (for bwrapArgv). */
export function hostEntry(path: string): HostEntry {
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return { kind: "symlink", target: readlinkSync(path) };
    return stat.isDirectory() ? { kind: "dir" } : { kind: "missing" };
  } catch {
    return { kind: "missing" };
  }
}

export function makeBwrapBroker(options: { readonly path?: string } = {}): BrokerShape {
  return {
    name: "bwrap",
    run: (spec) => withTool(BWRAP, options.path, (executable) => runSandboxProcess({ tool: BWRAP, executable, args: bwrapArgv(spec, hostEntry), env: {} }, spec)),
  };
}
