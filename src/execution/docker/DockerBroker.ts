/**
 * The Docker adapter of the Broker port, on the Docker Engine API through `dockerode`.
 * A run resolves the image on the engine (never pulling), checks the digest the policy
 * pins, creates one container per decision (see containerOptions: no network, read-only
 * root, no capabilities, non-root, limits), reads its output from the attach stream
 * into capped buffers, kills it at the timeout, and always removes it. The container is
 * named after the decision, so the engine itself refuses to run a decision twice.
 *
 * dockerode is imported on first use: a host without Docker (or Deno, where the engine
 * socket may not be reachable) only pays with `unavailable` runs.
 */
import { Writable } from "node:stream";
import type Dockerode from "dockerode";
import { Duration, Effect, Option } from "effect";
import { BrokerError, type BrokerShape, type CommandSpec, type ExecutionOutcome, type ImageSpec } from "../Broker.ts";
import { cappedBuffer, type CappedBuffer } from "../capOutput.ts";
import type { ProcessRef } from "../ProcessLease.ts";
import { containerOptions, DECISION_LABEL, OWNER_LABEL, PID_LABEL, RUN_LABEL, type ContainerIdentity } from "./containerOptions.ts";

/** Where the engine listens: a unix socket, or plain HTTP on a TCP address. */
export type DockerEndpoint = { readonly socketPath: string } | { readonly host: string; readonly port: number };

export interface DockerBrokerOptions {
  readonly endpoint: DockerEndpoint;
  /** Labels every container: the owner (this control plane's host and data directory) and this process. */
  readonly identity: ContainerIdentity;
  /** Whether the process that labelled a container is gone: only such containers are reaped (see ProcessLease). */
  readonly isGone: (process: ProcessRef) => boolean;
  /** Bound on each engine API call other than waiting for the command (default 10 s). */
  readonly apiTimeoutMs?: number;
}

/** Socket-level failures: the engine is not there, so nothing ran. */
const UNREACHABLE = new Set(["ENOENT", "ECONNREFUSED", "EACCES", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND"]);

interface EngineError {
  readonly code?: string;
  readonly statusCode?: number;
}

function engineError(error: unknown, doing: string): BrokerError {
  if (error instanceof BrokerError) return error;
  const { code, statusCode } = (error ?? {}) as EngineError;
  if (code !== undefined && UNREACHABLE.has(code)) return new BrokerError({ reason: "unavailable", message: `the Docker engine is not reachable (${code})` });
  // The engine's own message is not repeated: it can echo the command line.
  return new BrokerError({ reason: "failed", message: `the Docker engine could not ${doing}${statusCode === undefined ? "" : ` (HTTP ${statusCode})`}` });
}

const statusOf = (error: unknown): number | undefined => (error as EngineError | undefined)?.statusCode;

function sink(buffer: CappedBuffer): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      buffer.push(chunk);
      done();
    },
  });
}

export function makeDockerBroker(options: DockerBrokerOptions): BrokerShape {
  const apiTimeout = Duration.millis(options.apiTimeoutMs ?? 10_000);
  let client: Promise<Dockerode> | undefined;
  const docker = Effect.tryPromise({
    try: () => (client ??= import("dockerode").then(({ default: Docker }) => new Docker({ ...options.endpoint }))),
    catch: () => new BrokerError({ reason: "unavailable", message: "the Docker client cannot load here" }),
  });

  /** One engine call, bounded in time, its failure mapped (a hung engine is `unavailable`). */
  const api = <A>(doing: string, call: () => Promise<A>): Effect.Effect<A, BrokerError> =>
    Effect.tryPromise({ try: call, catch: (error) => engineError(error, doing) }).pipe(
      Effect.timeoutFail({ duration: apiTimeout, onTimeout: () => new BrokerError({ reason: "unavailable", message: `the Docker engine did not answer in time (${doing})` }) }),
    );

  const resolveImage = (engine: Dockerode, image: ImageSpec) =>
    Effect.gen(function* () {
      const inspect = (name: string) =>
        api(`inspect image ${image.ref}`, () =>
          engine
            .getImage(name)
            .inspect()
            .then(Option.some, (error: unknown) => (statusOf(error) === 404 ? Option.none() : Promise.reject(error))),
        );
      let found = yield* inspect(image.ref);
      // A pinned local image (built with `docker import`, never pushed) is found by its id.
      if (Option.isNone(found) && image.digest !== undefined) found = yield* inspect(image.digest);
      if (Option.isNone(found)) {
        return yield* new BrokerError({ reason: "failed", message: `image ${image.ref} is not on this Docker engine; images are never pulled (npm run sandbox:image builds zt-busybox:local)` });
      }
      const { Id, RepoDigests } = found.value;
      if (image.digest !== undefined && Id !== image.digest && !(RepoDigests ?? []).some((digest) => digest.endsWith(`@${image.digest}`))) {
        return yield* new BrokerError({ reason: "image_mismatch", message: `image ${image.ref} is ${Id}, not the ${image.digest} the policy pins` });
      }
      return Id;
    });

  const runContainer = (engine: Dockerode, container: Dockerode.Container, spec: CommandSpec, imageId: string): Effect.Effect<ExecutionOutcome, BrokerError> =>
    Effect.gen(function* () {
      const stdout = cappedBuffer(spec.outputCapBytes);
      const stderr = cappedBuffer(spec.outputCapBytes);
      const stream = yield* api("attach to the container", () => container.attach({ stream: true, stdout: true, stderr: true }));
      const drained = new Promise<void>((resolve) => {
        stream.once("end", resolve);
        stream.once("close", resolve);
        stream.once("error", () => resolve());
      });
      engine.modem.demuxStream(stream, sink(stdout), sink(stderr));

      const started = performance.now();
      yield* api("start the container", () => container.start());
      const exited = yield* Effect.tryPromise({ try: () => container.wait() as Promise<{ StatusCode: number }>, catch: (error) => engineError(error, "wait for the container") }).pipe(
        Effect.timeoutOption(Duration.millis(spec.timeoutMs)),
      );
      const duration_ms = Math.round(performance.now() - started);
      if (Option.isNone(exited)) {
        yield* api("kill the container", () => container.kill()).pipe(Effect.ignore);
      }
      // The stream ends once the container is gone; what it had written by then is kept.
      yield* Effect.promise(() => drained).pipe(Effect.timeoutOption(Duration.seconds(2)));
      const output = { stdout: stdout.bytes(), stderr: stderr.bytes(), truncated: stdout.truncated() || stderr.truncated(), duration_ms, image_id: imageId };
      if (Option.isNone(exited)) return { status: "timeout", exit_code: null, ...output } as const;

      const state = yield* api("inspect the container", () => container.inspect()).pipe(Effect.map((info) => info.State));
      if (state.OOMKilled) {
        return { status: "killed", exit_code: null, detail: `killed by the out-of-memory killer at its ${spec.memoryBytes} byte limit`, ...output } as const;
      }
      return { status: "completed", exit_code: exited.value.StatusCode, ...output } as const;
    });

  const run = (spec: CommandSpec): Effect.Effect<ExecutionOutcome, BrokerError> =>
    Effect.gen(function* () {
      if (spec.image === undefined) return yield* new BrokerError({ reason: "failed", message: "a docker run needs an image" });
      const engine = yield* docker;
      const imageId = yield* resolveImage(engine, spec.image);
      return yield* Effect.acquireUseRelease(
        api("create the container", () =>
          engine.createContainer(containerOptions(spec, imageId, options.identity)).catch((error: unknown) =>
            Promise.reject(
              statusOf(error) === 409 ? new BrokerError({ reason: "failed", message: `decision ${spec.decisionId} already has a container: a decision runs at most once` }) : error,
            ),
          ),
        ),
        (container) => runContainer(engine, container, spec, imageId),
        // Killed and removed whatever happened, also when the run is interrupted.
        (container) => api("remove the container", () => container.remove({ force: true })).pipe(Effect.ignore),
      );
    });

  const reap = () =>
    Effect.gen(function* () {
      const engine = yield* docker;
      const found = yield* api("list containers", () => engine.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${options.identity.owner}`] } }));
      const decisions: string[] = [];
      for (const info of found) {
        // Another instance sharing this data directory may be running it right now.
        const pid = Number(info.Labels[PID_LABEL]);
        if (!options.isGone({ id: info.Labels[RUN_LABEL] ?? "", pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined })) continue;
        yield* api("remove a leftover container", () => engine.getContainer(info.Id).remove({ force: true })).pipe(Effect.ignore);
        const decisionId = info.Labels[DECISION_LABEL];
        if (decisionId !== undefined) decisions.push(decisionId);
      }
      return decisions;
    });

  return { name: "docker", run, reap };
}
