/**
 * The Broker port: runs one approved command with constrained permissions and reports
 * how it ended. Adapters are named by technology (`BwrapBroker`). A command is an argv,
 * never a shell string; its environment is an explicit allowlist.
 */
import { Context, Data, Layer, type Effect } from "effect";

export interface CommandSpec {
  /** argv[0] is looked up on the allowlisted PATH inside the sandbox. */
  readonly argv: ReadonlyArray<string>;
  /** The whole environment of the command; nothing else is inherited. */
  readonly env: Readonly<Record<string, string>>;
  /** Host paths bound read-only at the same place inside. */
  readonly readPaths: ReadonlyArray<string>;
  /** Host paths bound read-write at the same place inside. */
  readonly writePaths: ReadonlyArray<string>;
  readonly network: boolean;
  /** CPU seconds (RLIMIT_CPU). */
  readonly cpu?: number;
  /** Address-space limit (RLIMIT_AS). */
  readonly memoryBytes?: number;
  /** Processes of the sandbox user (RLIMIT_NPROC). */
  readonly pids?: number;
  /** Wall-clock limit; past it the process group is killed and the status is `timeout`. */
  readonly timeoutMs: number;
  /** Bytes kept of each of stdout and stderr; the rest is dropped and `truncated` set. */
  readonly outputCapBytes: number;
}

export interface ExecutionOutcome {
  readonly status: "completed" | "timeout";
  /** Exit code, or null when the process ended on a signal (including a timeout kill). */
  readonly exit_code: number | null;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  readonly truncated: boolean;
  readonly duration_ms: number;
}

export type BrokerErrorReason =
  /** The broker is not installed or not configured here; nothing ran. */
  | "unavailable"
  /** The broker could not start the command. */
  | "failed"
  /** The command was killed by something other than its own timeout. */
  | "killed";

export class BrokerError extends Data.TaggedError("BrokerError")<{
  readonly reason: BrokerErrorReason;
  /** Never holds command output or environment values. */
  readonly message: string;
}> {
  get isRetryable(): boolean {
    return this.reason === "killed";
  }
}

export interface BrokerShape {
  /** Broker name as in the contract's `execute.broker`. */
  readonly name: string;
  /** Runs the command to its end or its timeout; fails with BrokerError when it cannot run it. */
  readonly run: (spec: CommandSpec) => Effect.Effect<ExecutionOutcome, BrokerError>;
}

/** The brokers configured in this build, by `execute.broker` name. */
export interface BrokersShape {
  readonly get: (name: string) => BrokerShape | undefined;
}

export class Brokers extends Context.Tag("zt/Brokers")<Brokers, BrokersShape>() {
  static readonly registry = (...brokers: ReadonlyArray<BrokerShape>): BrokersShape => {
    const byName = new Map(brokers.map((broker) => [broker.name, broker] as const));
    return { get: (name) => byName.get(name) };
  };
  static readonly layer = (...brokers: ReadonlyArray<BrokerShape>) => Layer.succeed(Brokers, Brokers.registry(...brokers));
}
