/**
 * How the gateway starts a stdio upstream (contract section 8): inside the sandbox its
 * `mcp.json` entry names, with its own writable directory `$ZT_DATA_DIR/mcp/<server_id>`
 * (its working directory and HOME), the read paths it names bound read-only (its code),
 * read-only system directories, no network unless granted, and the limits.
 *
 * `planStdioServer` checks an entry against this host once, at startup (the command
 * exists, the read paths exist and keep clear of the data directory, which holds the
 * keys, and the sandbox can see the command); `stdioLaunch` is the pure command line of
 * one start: bwrap's (the bwrap broker's sandbox, bwrapArgv), Docker's (`docker run -i`
 * with the Docker broker's container hardening) or the bare command (`none`).
 */
import { accessSync, chownSync, constants, mkdirSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { bwrapArgv, SYSTEM_READ_PATHS, type HostEntry } from "../execution/bwrap/bwrapArgv.ts";
import { CONTAINER_USER, SCRATCH_BYTES } from "../execution/docker/containerOptions.ts";
import { findOnPath } from "../execution/runSandboxProcess.ts";
import { MCP_DEFAULT_LIMITS, type StdioServer } from "../policy/McpServers.ts";

/** A stdio server checked against this host. */
export interface StdioPlan {
  readonly serverId: string;
  readonly config: StdioServer;
  /** Its own writable directory (real path): working directory, HOME, and the root of its path arguments. */
  readonly dir: string;
  /** The command as found (absolute, not resolved through symlinks: a `.bin` link keeps its directory). */
  readonly command: string;
  /** The read paths (real, absolute). */
  readonly readPaths: ReadonlyArray<string>;
}

/** The directory of a stdio server under the data directory. */
export function serverDirectory(dataDir: string, serverId: string): string {
  return resolve(dataDir, "mcp", serverId);
}

/** `path` is `dir` or below it. */
const isWithin = (path: string, dir: string) => {
  const rest = relative(dir, path);
  return rest === "" || (rest !== ".." && !rest.startsWith("../") && !isAbsolute(rest));
};
const overlaps = (a: string, b: string) => isWithin(a, b) || isWithin(b, a);

/** Checks one stdio entry against this host and creates its directory; the problem as text when it cannot run here. */
export function planStdioServer(serverId: string, config: StdioServer, where: { readonly dataDir: string; readonly cwd: string; readonly path?: string }): StdioPlan | string {
  const at = `mcp.json: servers.${serverId}`;
  const command = config.command.includes("/") ? resolve(where.cwd, config.command) : findOnPath(config.command, where.path);
  if (command === undefined) return `${at}.command: ${config.command} is not on PATH`;
  try {
    accessSync(command, constants.X_OK);
  } catch {
    return `${at}.command: ${command} is not an executable file`;
  }
  const dataDir = realpathSync(resolve(where.dataDir));
  const readPaths: string[] = [];
  for (const path of config.read) {
    let real: string;
    try {
      real = realpathSync(resolve(where.cwd, path));
    } catch {
      return `${at}.read: ${path} does not exist`;
    }
    if (overlaps(real, dataDir)) return `${at}.read: ${path} overlaps the data directory, which holds the keys`;
    readPaths.push(real);
  }
  if (config.sandbox === "bwrap") {
    const commandReal = realpathSync(command);
    const visible = [...SYSTEM_READ_PATHS, ...readPaths].some((path) => isWithin(commandReal, path));
    if (!visible) return `${at}.command: ${command} is outside the sandbox's read paths (add its directory to read)`;
  }
  const dir = serverDirectory(dataDir, serverId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A Docker upstream runs as nobody when the control plane is root (see dockerUser): its directory is nobody's.
  if (config.sandbox === "docker" && process.getuid?.() === 0) chownSync(dir, DOCKER_NOBODY, DOCKER_NOBODY);
  return { serverId, config, dir: realpathSync(dir), command, readPaths };
}

const DOCKER_NOBODY = 65534;

/**
 * The user a Docker upstream runs as: nobody when the control plane runs as root (its
 * directory is then handed to nobody), else the control plane's own user, which owns the
 * directory (a container has no user namespace of its own to map nobody to it).
 */
export function dockerUser(): string {
  const uid = process.getuid?.() ?? DOCKER_NOBODY;
  return uid === 0 ? CONTAINER_USER : `${uid}:${process.getgid?.() ?? uid}`;
}

/** How long a bwrap upstream's CPU budget lasts (RLIMIT_CPU is cumulative: `cpus` cores over this). */
export const UPSTREAM_CPU_BUDGET_MS = 24 * 60 * 60 * 1000;

/**
 * One start: the process, its arguments and its environment. The MCP SDK's stdio
 * transport adds a few variables of the control plane's own (DEFAULT_INHERITED_ENV_VARS:
 * HOME, LOGNAME, PATH, SHELL, TERM, USER) under `env`; a sandbox unsets those the server
 * does not get. Values of `env` (the server's secrets) never appear on a command line.
 */
export interface StdioLaunch {
  readonly command: string;
  readonly args: ReadonlyArray<string>;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface SandboxTools {
  /** The variables the stdio transport adds to every child's environment, for the sandbox to unset. */
  readonly inherited: ReadonlyArray<string>;
  /** bwrap's executable, when on PATH. */
  readonly bwrap?: string;
  /** The docker CLI, when on PATH, and the engine it talks to (`DOCKER_HOST`). */
  readonly docker?: string;
  readonly dockerHost?: string;
  /** `uid:gid` a Docker upstream runs as (dockerUser). */
  readonly dockerUser: string;
  /** What is at a system path (bwrapArgv). */
  readonly host: (path: string) => HostEntry;
}

/** The command line of one start of a planned server, or why this host cannot start it. */
export function stdioLaunch(plan: StdioPlan, tools: SandboxTools): StdioLaunch | string {
  const { config, dir, command } = plan;
  const limits = {
    memory_mb: config.limits.memory_mb ?? MCP_DEFAULT_LIMITS.memory_mb,
    cpus: config.limits.cpus ?? MCP_DEFAULT_LIMITS.cpus,
    pids: config.limits.pids ?? MCP_DEFAULT_LIMITS.pids,
  };
  const env = { ...config.env, PATH: `${dirname(command)}:/usr/local/bin:/usr/bin:/bin`, HOME: dir };
  switch (config.sandbox) {
    case "none":
      return { command, args: config.args, env, cwd: dir };
    case "bwrap": {
      if (tools.bwrap === undefined) return "bwrap is not on PATH on this host";
      const args = bwrapArgv(
        {
          argv: [command, ...config.args],
          env,
          readPaths: plan.readPaths,
          writePaths: [dir],
          workDir: dir,
          network: config.network,
          cpus: limits.cpus,
          memoryBytes: limits.memory_mb * 1024 * 1024,
          pids: limits.pids,
          timeoutMs: UPSTREAM_CPU_BUDGET_MS,
        },
        tools.host,
        { from: "parent", unset: tools.inherited.filter((name) => !Object.hasOwn(env, name)) },
      );
      return { command: tools.bwrap, args, env };
    }
    case "docker": {
      if (tools.docker === undefined) return "the docker CLI is not on PATH on this host";
      const args = [
        "run", "-i", "--rm", "--init",
        "--label", `zt.mcp_server=${plan.serverId}`,
        "--network", config.network ? "bridge" : "none",
        "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--ipc", "private",
        "--user", tools.dockerUser,
        "--memory", `${limits.memory_mb}m`, "--memory-swap", `${limits.memory_mb}m`, "--cpus", String(limits.cpus), "--pids-limit", String(limits.pids),
        "--tmpfs", `/tmp:rw,nosuid,nodev,noexec,size=${SCRATCH_BYTES}`,
        "--log-driver", "none",
        "--volume", `${dir}:${dir}:rw`,
        ...plan.readPaths.flatMap((path) => ["--volume", `${path}:${path}:ro`]),
        "--workdir", dir,
        // `--env NAME` takes the value from the docker CLI's own environment.
        ...Object.keys(env).flatMap((name) => ["--env", name]),
        "--entrypoint", command,
        config.image!,
        ...config.args,
      ];
      return { command: tools.docker, args, env: { ...env, ...(tools.dockerHost === undefined ? {} : { DOCKER_HOST: tools.dockerHost }) } };
    }
  }
}
