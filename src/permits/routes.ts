/**
 * `POST /permits` (operator): issue a signed permit.
 */
import { Effect, Either } from "effect";
import { Hono } from "hono";
import { requireOperator, type AppEnv } from "../http/auth.ts";
import { problem } from "../http/problem.ts";
import { readJsonBody } from "../http/readJsonBody.ts";
import type { RunEffect } from "../http/RunEffect.ts";
import { PermitService } from "./PermitService.ts";

export function permitRoutes(run: RunEffect<PermitService>) {
  const app = new Hono<AppEnv>();
  app.post("/permits", requireOperator, async (c) => {
    const body = await readJsonBody(c);
    if (!body.ok) return body.answer;
    const issued = await run(Effect.flatMap(PermitService, (service) => service.issue(body.json)).pipe(Effect.either));
    if (Either.isLeft(issued)) return problem(c, "audit_unavailable", "the permit could not be recorded");
    const result = issued.right;
    if (Either.isLeft(result)) return problem(c, result.left.reason, result.left.message, { errors: result.left.problems });
    return c.json(result.right, 201);
  });
  return app;
}
