/**
 * The Broker port: runs one approved command with constrained permissions and reports
 * how it ended. Adapters are named by technology (`DockerBroker`, `BwrapBroker`,
 * `NonoBroker`). A command is an argv, never a shell string; its environment is an
 * explicit allowlist; its limits come from the policy bundle's broker rule.
 */
import { Context, Data, Layer, type Effect } from "effect";

/** A Docker image as the policy allowed it: a reference, and the digest it must resolve to when the policy pins one. */
export interface ImageSpec {
  /** `name:tag` (or `name@sha256:...`) as named in the request. */
  readonly ref: string;
  /** `sha256:<64 hex>`: the image id or repository digest the reference must resolve to. */
  readonly digest?: string;
}

export interface CommandSpec {
  /** The decision this run executes: names and labels the run so it can be found, reaped and never run twice. */
  readonly decisionId: string;
  /** Docker only: the image to run. */
  readonly image?: ImageSpec;
  /** argv[0] is looked up on the allowlisted PATH inside the sandbox. */
  readonly argv: ReadonlyArray<string>;
  /** The whole environment of the command; nothing else is inherited. */
  readonly env: Readonly<Record<string, string>>;
  /** Host paths bound read-only at the same place inside. */
  readonly readPaths: ReadonlyArray<string>;
  /** Host paths bound read-write at the same place inside. */
  readonly writePaths: ReadonlyArray<string>;
  /** Where the command starts (a write path, or /tmp when unset). */
  readonly workDir?: string;
  readonly network: boolean;
  /** CPU share in cores (Docker NanoCpus; bwrap and nono turn it into CPU seconds over the timeout). */
  readonly cpus: number;
  /** Memory limit (Docker cgroup memory, no swap; bwrap and nono RLIMIT_AS). */
  readonly memoryBytes: number;
  /** Process limit (Docker pids cgroup; bwrap and nono RLIMIT_NPROC). */
  readonly pids: number;
  /** Wall-clock limit; past it everything the command started is killed and the status is `timeout`. */
  readonly timeoutMs: number;
  /** Bytes kept of each of stdout and stderr; the rest is dropped and `truncated` set. */
  readonly outputCapBytes: number;
}

/**
 * How a command that started ended: on its own (`completed`, with its exit code), killed
 * at the timeout (`timeout`), or killed by something else (`killed`: the out-of-memory
 * killer, a signal from outside).
 */
export interface ExecutionOutcome {
  readonly status: "completed" | "timeout" | "killed";
  /** Exit code, or null when the process ended on a signal (including a timeout kill). */
  readonly exit_code: number | null;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  readonly truncated: boolean;
  readonly duration_ms: number;
  /** Docker: the id (`sha256:...`) of the image that actually ran. */
  readonly image_id?: string;
  /** For people, when status is `killed`: what killed it. Never output. */
  readonly detail?: string;
}

export type BrokerErrorReason =
  /** The broker is not installed, not configured or not reachable here; nothing ran. */
  | "unavailable"
  /** The broker could not start the command (missing image, engine error); nothing ran. */
  | "failed"
  /** The image does not resolve to the digest the policy pins; nothing ran. */
  | "image_mismatch";

export class BrokerError extends Data.TaggedError("BrokerError")<{
  readonly reason: BrokerErrorReason;
  /** Never holds command output, environment values or engine credentials. */
  readonly message: string;
}> {
  get isRetryable(): boolean {
    return this.reason === "unavailable";
  }
}

export interface BrokerShape {
  /** Broker name as in the contract's `execute.broker`. */
  readonly name: string;
  /** Runs the command to its end or its timeout; fails with BrokerError when nothing could run. */
  readonly run: (spec: CommandSpec) => Effect.Effect<ExecutionOutcome, BrokerError>;
  /**
   * Ends what an earlier process of this control plane left running (it crashed mid-run)
   * and answers the decisions those runs belonged to. Brokers whose sandboxes die with
   * their parent have nothing to reap.
   */
  readonly reap?: () => Effect.Effect<ReadonlyArray<string>, BrokerError>;
}

/** The brokers configured in this build, by `execute.broker` name. */
export interface BrokersShape {
  readonly get: (name: string) => BrokerShape | undefined;
  readonly all: ReadonlyArray<BrokerShape>;
}

export class Brokers extends Context.Tag("zt/Brokers")<Brokers, BrokersShape>() {
  static readonly registry = (...brokers: ReadonlyArray<BrokerShape>): BrokersShape => {
    const byName = new Map(brokers.map((broker) => [broker.name, broker] as const));
    return { get: (name) => byName.get(name), all: brokers };
  };
  static readonly layer = (...brokers: ReadonlyArray<BrokerShape>) => Layer.succeed(Brokers, Brokers.registry(...brokers));
}

