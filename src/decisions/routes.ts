/**
 * `POST /actions` (agents) and `GET /decisions/:id` (the agent that acted, or the operator).
 */
import { Effect, Schema } from "effect";
import { Hono } from "hono";
import { EventStore } from "../events/EventStore.ts";
import { recordedExecution } from "../execution/recordedExecution.ts";
import type { AppEnv } from "../http/auth.ts";
import type { RunEffect } from "../http/AppRuntime.ts";
import { readCappedBody } from "../http/readBody.ts";
import { MAX_ACTION_BODY_BYTES } from "./ActionRequest.ts";
import { DecisionService, decisionView } from "./DecisionService.ts";
import { ACTION_DECIDED, ActionDecided, DECISION_ID, decisionStream } from "./events.ts";

export function decisionRoutes(run: RunEffect) {
  const app = new Hono<AppEnv>();

  app.post("/actions", async (c) => {
    const body = await readCappedBody(c.req.raw, MAX_ACTION_BODY_BYTES);
    const answer = await run(Effect.flatMap(DecisionService, (service) => service.decideAction(c.get("principal"), body)));
    return c.json(answer.body, answer.httpStatus);
  });

  app.get("/decisions/:id", async (c) => {
    const id = c.req.param("id");
    const principal = c.get("principal");
    const notFound = () => c.json({ error: "not_found", message: `no decision ${id} visible to this token` }, 404);
    if (!DECISION_ID.test(id)) return notFound();
    const events = await run(Effect.flatMap(EventStore, (store) => store.readStream(decisionStream(id), { limit: 100 })).pipe(Effect.either));
    if (events._tag === "Left") return c.json({ error: "audit_unavailable", message: "the event store cannot be read" }, 503);
    const decided = events.right.find((event) => event.type === ACTION_DECIDED);
    if (decided === undefined) return notFound();
    const record = Schema.decodeUnknownOption(ActionDecided)(decided.data);
    if (record._tag === "None") return c.json({ error: "corrupt_record", message: `decision ${id} does not decode` }, 500);
    const decision = record.value;
    // An agent sees its own decisions only; others read as absent so ids leak nothing.
    if (principal.role === "agent" && principal.actor !== decision.actor) return notFound();
    return c.json({
      ...decisionView(decision),
      // Hashes only: the output went to the caller of POST /actions and is kept nowhere.
      execution: recordedExecution(events.right),
      actor: decision.actor,
      action: decision.request?.action ?? null,
      resource: decision.request?.resource ?? null,
      audit: { stream: decided.stream, position: decided.position, recorded_at: decided.recordedAt },
      anchor: null,
    });
  });

  return app;
}
