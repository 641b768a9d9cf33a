/**
 * `PUT /market/snapshot` (operator): replace the trusted market snapshot.
 */
import { Effect, Either, Schema } from "effect";
import { Hono } from "hono";
import { schemaProblems } from "../kernel/schemaProblems.ts";
import { requireOperator, type AppEnv } from "../http/auth.ts";
import type { RunEffect } from "../http/AppRuntime.ts";
import { readJsonBody } from "../http/readJsonBody.ts";
import { MarketSnapshot } from "./MarketSnapshot.ts";
import { MarketSnapshots } from "./MarketSnapshots.ts";

export function marketRoutes(run: RunEffect) {
  const app = new Hono<AppEnv>();
  app.put("/market/snapshot", requireOperator, async (c) => {
    const body = await readJsonBody(c.req.raw);
    if (!body.ok) return c.json({ error: body.reason, reason: body.reason, message: body.message, errors: body.errors }, body.status);
    const decoded = Schema.decodeUnknownEither(MarketSnapshot)(body.json, { errors: "all", onExcessProperty: "error" });
    if (Either.isLeft(decoded)) {
      return c.json({ error: "malformed_request", reason: "malformed_request", message: "not a market snapshot {as_of, prices}", errors: schemaProblems(decoded.left) }, 400);
    }
    const replaced = await run(Effect.flatMap(MarketSnapshots, (markets) => markets.replace(decoded.right, "operator")).pipe(Effect.either));
    if (Either.isLeft(replaced)) return c.json({ error: "audit_unavailable", message: "the snapshot could not be recorded" }, 503);
    return c.json({ ...decoded.right, position: replaced.right.position });
  });
  return app;
}
