/**
 * `POST /policy/reload` (operators; contract section 11): reads, validates and puts in
 * force the bundle of `ZT_POLICY_DIR` (and of `ZT_POLICY_CANDIDATE_DIR`), as SIGHUP does.
 * `200` with what is in force now; `422 policy_invalid` naming every problem by file and
 * line when a bundle does not load (the bundles in force stay); `503 audit_unavailable`
 * when the activation cannot be recorded (nothing changes). The body, if any, is ignored:
 * a reload reads only the configured directories.
 */
import { Effect } from "effect";
import { Hono } from "hono";
import { requireOperator, type AppEnv } from "../http/auth.ts";
import { problem } from "../http/problem.ts";
import type { RunEffect } from "../http/RunEffect.ts";
import { PolicyReload } from "./PolicyReload.ts";

export function policyRoutes(run: RunEffect<PolicyReload>) {
  const app = new Hono<AppEnv>();

  app.post("/policy/reload", requireOperator, async (c) => {
    const principal = c.get("principal");
    const operator = principal.role === "operator" ? principal.name : "operator:default";
    const outcome = await run(Effect.flatMap(PolicyReload, (policies) => policies.reload({ kind: "reload", operator })).pipe(Effect.either));
    if (outcome._tag === "Right") return c.json(outcome.right);
    const error = outcome.left;
    if (error._tag === "PolicyLoadError") {
      return problem(c, "policy_invalid", `the bundle in ${error.directory} does not load; the bundles in force stay`, { directory: error.directory, problems: error.problems });
    }
    return problem(c, "audit_unavailable", `the activation cannot be recorded (${error.reason}); the bundles in force stay`);
  });

  return app;
}
