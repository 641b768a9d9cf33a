/**
 * The approvals endpoints (contract section 9): `GET /approvals?status=` and
 * `GET /approvals/:id` (operators; an agent sees the approvals of its own requests only,
 * others read as absent), `POST /approvals/:id/approve` and `/reject` with `{"note"}`
 * (operators only). The approver is the authenticated operator, never a field of the body.
 */
import { Clock, Effect, Either, Schema } from "effect";
import { Hono, type Context } from "hono";
import { requireOperator, type AppEnv } from "../http/auth.ts";
import { problem } from "../http/problem.ts";
import { readJsonBody, schemaProblem } from "../http/readJsonBody.ts";
import type { RunEffect } from "../http/RunEffect.ts";
import type { Principal } from "../identity/Credentials.ts";
import { schemaProblems } from "../kernel/schemaProblems.ts";
import { APPROVAL_ID } from "../vocabulary/ApprovalId.ts";
import { APPROVAL_STATUSES, approvalStatus, type Approval, type ApprovalStatus } from "./Approval.ts";
import { ApprovalBook } from "./ApprovalBook.ts";
import { ApprovalService } from "./ApprovalService.ts";
import { ApprovalNote } from "./events.ts";
import { approvalView } from "./views.ts";

const VoteBody = Schema.Struct({ note: Schema.optional(ApprovalNote) });
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const UNAVAILABLE = "the approvals cannot be read or recorded";

/** Whether this caller may see this approval: operators all, an agent those of its own requests. */
function visible(principal: Principal, approval: Approval): boolean {
  return principal.role === "operator" || approval.requested.request.actor === principal.actor;
}

export function approvalRoutes(run: RunEffect<ApprovalBook | ApprovalService>) {
  const app = new Hono<AppEnv>();

  app.get("/approvals", async (c) => {
    const principal = c.get("principal");
    const status = c.req.query("status");
    const limitText = c.req.query("limit");
    if (status !== undefined && !(APPROVAL_STATUSES as ReadonlyArray<string>).includes(status)) {
      return problem(c, "invalid_parameter", `status must be one of ${APPROVAL_STATUSES.join(", ")}`);
    }
    const limit = limitText === undefined ? DEFAULT_LIMIT : /^\d{1,4}$/.test(limitText) ? Number(limitText) : 0;
    if (limit < 1 || limit > MAX_LIMIT) return problem(c, "invalid_parameter", `limit must be an integer from 1 to ${MAX_LIMIT}`);
    const listed = await run(
      Effect.gen(function* () {
        const all = yield* Effect.flatMap(ApprovalBook, (book) => book.all);
        const now = yield* Clock.currentTimeMillis;
        // Newest first: the most recent requests are the ones an operator acts on.
        return all
          .filter((approval) => visible(principal, approval) && (status === undefined || approvalStatus(approval, now) === (status as ApprovalStatus)))
          .reverse()
          .slice(0, limit)
          .map((approval) => approvalView(approval, now));
      }).pipe(Effect.either),
    );
    return Either.isLeft(listed) ? problem(c, "audit_unavailable", UNAVAILABLE) : c.json({ approvals: listed.right });
  });

  app.get("/approvals/:id", async (c) => {
    const id = c.req.param("id");
    const principal = c.get("principal");
    const notFound = () => problem(c, "not_found", "no such approval is visible to this token");
    if (!APPROVAL_ID.test(id)) return notFound();
    const read = await run(Effect.all([Effect.flatMap(ApprovalBook, (book) => book.read(id)), Clock.currentTimeMillis]).pipe(Effect.either));
    if (Either.isLeft(read)) return problem(c, "audit_unavailable", UNAVAILABLE);
    const [approval, now] = read.right;
    if (approval === undefined || !visible(principal, approval)) return notFound();
    return c.json(approvalView(approval, now, { withRequest: true }));
  });

  const vote = (kind: "grant" | "reject") => async (c: Context<AppEnv>) => {
    const id = c.req.param("id") ?? "";
    const principal = c.get("principal");
    if (principal.role !== "operator") return problem(c, "forbidden", "only an operator may approve or reject");
    const body = await readJsonBody(c, { emptyAs: {} });
    if (!body.ok) return body.answer;
    const decoded = Schema.decodeUnknownEither(VoteBody)(body.json, { errors: "all", onExcessProperty: "error" });
    if (Either.isLeft(decoded)) return schemaProblem(c, "the vote {note}", schemaProblems(decoded.left));
    if (!APPROVAL_ID.test(id)) return problem(c, "not_found", "no such approval");
    const result = await run(
      Effect.gen(function* () {
        const service = yield* ApprovalService;
        const outcome = yield* service.vote(id, { kind, operator: principal.name, note: decoded.right.note ?? null });
        return { outcome, now: yield* Clock.currentTimeMillis };
      }).pipe(Effect.either),
    );
    if (Either.isLeft(result)) return problem(c, "audit_unavailable", UNAVAILABLE);
    const { outcome, now } = result.right;
    switch (outcome.kind) {
      case "not_found":
        return problem(c, "not_found", "no such approval");
      case "refused":
        return problem(c, outcome.reason, outcome.detail, { approval: approvalView(outcome.approval, now) });
      case "recorded":
        return c.json(approvalView(outcome.approval, now, { withRequest: true }));
    }
  };
  app.post("/approvals/:id/approve", requireOperator, vote("grant"));
  app.post("/approvals/:id/reject", requireOperator, vote("reject"));

  return app;
}
