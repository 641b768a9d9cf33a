/**
 * `POST /permits` (operator): issue a signed permit.
 */
import { Effect, Either } from "effect";
import { Hono } from "hono";
import { requireOperator, type AppEnv } from "../http/auth.ts";
import type { RunEffect } from "../http/AppRuntime.ts";
import { readJsonBody } from "../http/readJsonBody.ts";
import { PermitService } from "./PermitService.ts";

export function permitRoutes(run: RunEffect) {
  const app = new Hono<AppEnv>();
  app.post("/permits", requireOperator, async (c) => {
    const body = await readJsonBody(c.req.raw);
    if (!body.ok) return c.json({ error: body.reason, reason: body.reason, message: body.message, errors: body.errors }, body.status);
    const issued = await run(Effect.flatMap(PermitService, (service) => service.issue(body.json)).pipe(Effect.either));
    if (Either.isLeft(issued)) return c.json({ error: "audit_unavailable", reason: "audit_unavailable", message: "the permit could not be recorded" }, 503);
    const result = issued.right;
    if (Either.isLeft(result)) return c.json({ error: result.left.reason, reason: result.left.reason, message: result.left.message, errors: result.left.problems }, 400);
    return c.json(result.right, 201);
  });
  return app;
}
