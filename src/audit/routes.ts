/**
 * The audit endpoints: head, records, batches (sealed checkpoints), consistency proofs
 * (operator) and inclusion proofs (the decision's agent, or the operator).
 */
import { Effect, Either } from "effect";
import { Hono } from "hono";
import type { EventStore } from "../events/EventStore.ts";
import { requireOperator, type AppEnv } from "../http/auth.ts";
import { problem } from "../http/problem.ts";
import type { RunEffect } from "../http/RunEffect.ts";
import { bytesToHex } from "../kernel/hashing.ts";
import { DECISION_ID } from "../vocabulary/DecisionId.ts";
import { AuditLog } from "./AuditLog.ts";
import { AuditProjector } from "./AuditProjector.ts";
import { AuditTrail } from "./AuditTrail.ts";
import { BatchAnchors } from "./BatchAnchors.ts";
import { consistencyProofBetween, inclusionProofFor } from "./proofs.ts";

const UNAVAILABLE = "the audit trail cannot be read";

function nonNegativeInt(text: string | undefined, fallback: number): number | undefined {
  if (text === undefined) return fallback;
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

export function auditRoutes(run: RunEffect<AuditLog | AuditTrail | AuditProjector | BatchAnchors | EventStore>) {
  const app = new Hono<AppEnv>();

  app.get("/audit/head", requireOperator, async (c) => {
    const result = await run(
      Effect.gen(function* () {
        const log = yield* AuditLog;
        const trail = yield* AuditTrail;
        const projector = yield* AuditProjector;
        const head = yield* log.head;
        yield* trail.sync;
        const status = yield* projector.status;
        const tree = trail.tree();
        const root = tree.size > 0 ? tree.root(tree.size) : undefined;
        return {
          seq: head?.seq ?? 0,
          hash: head?.hash ?? null,
          signature: head?.signature ?? null,
          key_id: head?.key_id ?? null,
          position: head?.position ?? 0,
          tree_size: tree.size,
          root: root === undefined ? null : bytesToHex(root),
          last_checkpoint: trail.checkpoints().at(-1)?.checkpoint.batch_id ?? null,
          lag: status.lag,
          writer: status.leaseHeld,
          writer_state: status.writer,
        };
      }).pipe(Effect.either),
    );
    return Either.isLeft(result) ? problem(c, "audit_unavailable", UNAVAILABLE) : c.json(result.right);
  });

  app.get("/audit/records", requireOperator, async (c) => {
    const after = nonNegativeInt(c.req.query("after"), 0);
    const limit = nonNegativeInt(c.req.query("limit"), 100);
    if (after === undefined || limit === undefined || limit < 1 || limit > 1000) {
      return problem(c, "invalid_parameter", "after must be a non-negative integer and limit an integer in [1, 1000]");
    }
    const result = await run(Effect.flatMap(AuditLog, (log) => log.read({ afterSeq: after, limit })).pipe(Effect.either));
    return Either.isLeft(result) ? problem(c, "audit_unavailable", UNAVAILABLE) : c.json({ records: result.right });
  });

  app.get("/audit/batches", requireOperator, async (c) => {
    const result = await run(
      Effect.gen(function* () {
        const trail = yield* AuditTrail;
        const anchoring = yield* BatchAnchors;
        yield* trail.sync;
        const sealed = [...trail.checkpoints()];
        const anchors = yield* Effect.forEach(sealed, ({ checkpoint }) => anchoring.statusOf(checkpoint.batch_id));
        return sealed.map((batch, index) => ({ ...batch, anchor: anchors[index] ?? null }));
      }).pipe(Effect.either),
    );
    if (Either.isLeft(result)) return problem(c, "audit_unavailable", UNAVAILABLE);
    return c.json({
      batches: result.right.map(({ checkpoint, position, anchor }) => ({
        batch_id: checkpoint.batch_id,
        tree_size: checkpoint.tree_size,
        root: checkpoint.root,
        sealed_at: checkpoint.sealed_at,
        checkpoint: checkpoint.note,
        position,
        anchor,
      })),
    });
  });

  app.get("/audit/consistency", requireOperator, async (c) => {
    const from = nonNegativeInt(c.req.query("from"), -1);
    const to = nonNegativeInt(c.req.query("to"), -1);
    if (from === undefined || to === undefined || from < 0 || to < 0) return problem(c, "invalid_parameter", "from and to are required tree sizes");
    const result = await run(consistencyProofBetween(from, to).pipe(Effect.either));
    if (Either.isLeft(result)) return problem(c, "audit_unavailable", UNAVAILABLE);
    return Either.isLeft(result.right) ? problem(c, "bad_range", result.right.left.message) : c.json(result.right.right);
  });

  app.get("/audit/proofs/:decision_id", async (c) => {
    const id = c.req.param("decision_id");
    const principal = c.get("principal");
    const notFound = () => problem(c, "not_found", "no such decision is visible to this token");
    if (!DECISION_ID.test(id)) return notFound();
    const result = await run(Effect.flatMap(BatchAnchors, (anchoring) => inclusionProofFor(id, anchoring.statusOf)).pipe(Effect.either));
    if (Either.isLeft(result)) return problem(c, "audit_unavailable", UNAVAILABLE);
    const proof = result.right;
    // Another agent's decision is not found, sealed or not: a 409 would tell it the decision exists.
    const visible = (actor: string) => principal.role !== "agent" || principal.actor === actor;
    if (Either.isLeft(proof)) {
      const missing = proof.left;
      return missing.kind === "not_yet_sealed" && visible(missing.actor) ? problem(c, "not_yet_sealed", missing.message) : notFound();
    }
    if (!visible(proof.right.actor)) return notFound();
    return c.json(proof.right.proof);
  });

  return app;
}
