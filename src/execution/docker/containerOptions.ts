/**
 * The Docker Engine `POST /containers/create` body for one CommandSpec. Pure.
 *
 * The container has no network (`NetworkMode: none`) unless the spec allows it, a
 * read-only root filesystem with a small tmpfs /tmp as scratch, every capability
 * dropped, `no-new-privileges`, an unprivileged uid/gid, memory (no swap), CPU and pids
 * limits, no restart, and no log driver: output is read from the attach stream alone,
 * so the engine keeps no copy of it on disk. The image's entrypoint is reset so what
 * runs is exactly the argv the decision recorded.
 */
import type { CommandSpec } from "../Broker.ts";

/** The unprivileged uid:gid the command runs as (`nobody`). */
export const CONTAINER_USER = "65534:65534";
/** Size of the tmpfs /tmp scratch. */
export const SCRATCH_BYTES = 64 * 1024 * 1024;
/** Label holding the decision id of a run. */
export const DECISION_LABEL = "zt.decision_id";
/** Label naming the control plane (data directory on a host) that created the container. */
export const OWNER_LABEL = "zt.owner";
/** Label naming the process that created the container (a random id per process lifetime). */
export const RUN_LABEL = "zt.process";
/** Label holding that process's pid, so that another process can tell it is gone (see ProcessLease). */
export const PID_LABEL = "zt.pid";

/** The container of a decision: one name per decision, so the engine itself refuses a second run. */
export function containerName(decisionId: string): string {
  return `zt-exec-${decisionId}`;
}

export interface ContainerIdentity {
  readonly owner: string;
  readonly process: string;
  readonly pid: number;
}

export function containerOptions(spec: CommandSpec, imageId: string, identity: ContainerIdentity) {
  return {
    name: containerName(spec.decisionId),
    Image: imageId,
    Entrypoint: [""],
    Cmd: [...spec.argv],
    Env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    User: CONTAINER_USER,
    WorkingDir: spec.workDir ?? "/tmp",
    Labels: { [DECISION_LABEL]: spec.decisionId, [OWNER_LABEL]: identity.owner, [RUN_LABEL]: identity.process, [PID_LABEL]: String(identity.pid) },
    NetworkDisabled: !spec.network,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: false,
    Tty: false,
    HostConfig: {
      NetworkMode: spec.network ? "bridge" : "none",
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges:true"],
      Privileged: false,
      IpcMode: "private",
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: Math.round(spec.cpus * 1e9),
      PidsLimit: spec.pids,
      Tmpfs: { "/tmp": `rw,nosuid,nodev,noexec,size=${SCRATCH_BYTES}` },
      Binds: [...spec.readPaths.map((path) => `${path}:${path}:ro`), ...spec.writePaths.map((path) => `${path}:${path}:rw`)],
      LogConfig: { Type: "none", Config: {} },
      RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
      AutoRemove: false,
    },
  };
}
