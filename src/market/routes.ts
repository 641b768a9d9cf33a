/**
 * `PUT /market/snapshot` (operator): replace the trusted market snapshot.
 */
import { Effect, Either, Schema } from "effect";
import { Hono } from "hono";
import { requireOperator, type AppEnv } from "../http/auth.ts";
import { problem } from "../http/problem.ts";
import { readJsonBody, schemaProblem } from "../http/readJsonBody.ts";
import type { RunEffect } from "../http/RunEffect.ts";
import { schemaProblems } from "../kernel/schemaProblems.ts";
import { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import { MarketSnapshots } from "./MarketSnapshots.ts";

export function marketRoutes(run: RunEffect<MarketSnapshots>) {
  const app = new Hono<AppEnv>();
  app.put("/market/snapshot", requireOperator, async (c) => {
    const body = await readJsonBody(c);
    if (!body.ok) return body.answer;
    const decoded = Schema.decodeUnknownEither(MarketSnapshot)(body.json, { errors: "all", onExcessProperty: "error" });
    if (Either.isLeft(decoded)) return schemaProblem(c, "the market snapshot {as_of, prices}", schemaProblems(decoded.left));
    const replaced = await run(Effect.flatMap(MarketSnapshots, (markets) => markets.replace(decoded.right, "operator")).pipe(Effect.either));
    if (Either.isLeft(replaced)) return problem(c, "audit_unavailable", "the snapshot could not be recorded");
    return c.json({ ...decoded.right, position: replaced.right.position });
  });
  return app;
}
