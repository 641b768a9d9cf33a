/**
 * `zt policy diff`: what a candidate policy bundle would have answered otherwise (contract
 * section 11), summarised from the `PolicyCandidateDisagreed.v1` events of the store: by
 * the first differing check, the action and both answers, with counts, time span and
 * example decision ids. The candidate is `--candidate HASH`, else the bundle in
 * `--candidate-dir` (default `ZT_POLICY_CANDIDATE_DIR`), else the candidate of the last
 * recorded activation. Read-only; exit 0 with the summary, 2 on bad usage.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Effect, Either, Schema } from "effect";
import { EventStore, type EventStoreShape, type RecordedEvent } from "../events/EventStore.ts";
import { ConfigError } from "../config.ts";
import { storeLayer } from "../layers.ts";
import { loadPolicyBundle } from "../policy/ActivePolicy.ts";
import { formatDisagreementSummary, summariseDisagreements } from "../rollout/disagreement.ts";
import { candidateStream, POLICY_ACTIVATIONS_STREAM, PolicyActivated, PolicyCandidateDisagreed } from "../rollout/events.ts";
import { parse, text, UsageError } from "./args.ts";
import { configFor } from "./auditCommands.ts";

const PAGE = 1000;

/** Every event of a stream, in order. */
const readWhole = (store: EventStoreShape, stream: string) =>
  Effect.gen(function* () {
    const events: RecordedEvent[] = [];
    for (;;) {
      const page: ReadonlyArray<RecordedEvent> = yield* store.readStream(stream, { fromRevision: events.length, limit: PAGE });
      events.push(...page);
      if (page.length < PAGE) return events;
    }
  });

async function candidateHash(values: Record<string, string | boolean | undefined>, store: EventStoreShape): Promise<string> {
  const named = text(values, "candidate");
  if (named !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(named)) throw new UsageError("--candidate must be a policy_hash (64 lowercase hex)");
    return named;
  }
  const dir = text(values, "candidate-dir") ?? process.env["ZT_POLICY_CANDIDATE_DIR"];
  if (dir) {
    const loaded = await Effect.runPromise(Effect.either(loadPolicyBundle(resolve(dir))));
    if (Either.isLeft(loaded)) throw new ConfigError(loaded.left.message);
    return loaded.right.policyHash;
  }
  const activations = await Effect.runPromise(readWhole(store, POLICY_ACTIVATIONS_STREAM));
  const last = activations.map((event) => Schema.decodeUnknownOption(PolicyActivated)(event.data)).findLast((decoded) => decoded._tag === "Some");
  const hash = last?._tag === "Some" ? last.value.candidate_policy_hash : null;
  if (hash === null) throw new UsageError("no candidate: the last activation has none; name one with --candidate HASH or --candidate-dir DIR");
  return hash;
}

export async function runPolicyCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { store: { type: "string" }, candidate: { type: "string" }, "candidate-dir": { type: "string" }, json: { type: "boolean" } });
  const config = configFor(text(values, "store"));
  if (config.store.kind === "sqlite" && !existsSync(config.store.path)) throw new UsageError(`no event store at ${config.store.path}`);
  const program = Effect.gen(function* () {
    const store = yield* EventStore;
    const hash = yield* Effect.promise(() => candidateHash(values, store));
    const events = yield* readWhole(store, candidateStream(hash));
    const decode = Schema.decodeUnknownOption(PolicyCandidateDisagreed);
    const disagreements = events.flatMap((event) => {
      const decoded = decode(event.data);
      return decoded._tag === "Some" ? [decoded.value] : [];
    });
    return { hash, summary: summariseDisagreements(disagreements), undecodable: events.length - disagreements.length };
  });
  const result = await Effect.runPromise(Effect.either(Effect.scoped(Effect.provide(program, storeLayer(config.store)))));
  if (Either.isLeft(result)) {
    console.error(`zt policy diff: cannot read the store: ${(result.left as Error).message}`);
    return 2;
  }
  const { hash, summary, undecodable } = result.right;
  if (values["json"] === true) console.log(JSON.stringify({ ...summary, candidate_policy_hash: hash, undecodable_events: undecodable }, null, 2));
  else process.stdout.write(`candidate ${hash}\n${formatDisagreementSummary(summary)}${undecodable > 0 ? `${undecodable} event(s) of this candidate's stream do not decode\n` : ""}`);
  return 0;
}
