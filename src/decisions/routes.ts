/**
 * `POST /actions` (agents) and `GET /decisions/:id` (the agent that acted, or the operator).
 */
import { Effect, Schema } from "effect";
import { Hono } from "hono";
import { EventStore } from "../events/EventStore.ts";
import { recordedExecution } from "../execution/recordedExecution.ts";
import type { AppEnv } from "../http/auth.ts";
import { problem } from "../http/problem.ts";
import { readCappedBody, type NodeIncoming } from "../http/readBody.ts";
import type { RunEffect } from "../http/RunEffect.ts";
import { MAX_ACTION_BODY_BYTES } from "../vocabulary/ActionRequest.ts";
import { DECISION_ID, decisionStream } from "../vocabulary/DecisionId.ts";
import { DecisionService } from "./DecisionService.ts";
import { ACTION_DECIDED, ActionDecided } from "./events.ts";
import { actionAnswer, decisionView } from "./views.ts";

export function decisionRoutes(run: RunEffect<DecisionService | EventStore>) {
  const app = new Hono<AppEnv>();

  app.post("/actions", async (c) => {
    const body = await readCappedBody(c.req.raw, MAX_ACTION_BODY_BYTES, c.env as NodeIncoming | undefined);
    const decision = Effect.flatMap(DecisionService, (service) => service.decideAction(c.get("principal"), body, { traceparent: c.req.header("traceparent") }));
    // Under the request's span when tracing is on (app.ts).
    const span = c.get("span");
    const answer = actionAnswer(await run(span === undefined ? decision : Effect.withParentSpan(decision, span)));
    return c.body(JSON.stringify(answer.body), answer.status, { "content-type": answer.contentType });
  });

  app.get("/decisions/:id", async (c) => {
    const id = c.req.param("id");
    const principal = c.get("principal");
    const notFound = () => problem(c, "not_found", "no such decision is visible to this token");
    if (!DECISION_ID.test(id)) return notFound();
    const events = await run(Effect.flatMap(EventStore, (store) => store.readStream(decisionStream(id), { limit: 100 })).pipe(Effect.either));
    if (events._tag === "Left") return problem(c, "audit_unavailable", "the event store cannot be read");
    const decided = events.right.find((event) => event.type === ACTION_DECIDED);
    if (decided === undefined) return notFound();
    const record = Schema.decodeUnknownOption(ActionDecided)(decided.data);
    if (record._tag === "None") return problem(c, "corrupt_record", "the stored decision does not decode");
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
      ...(decision.traceparent === undefined ? {} : { traceparent: decision.traceparent }),
      audit: { stream: decided.stream, position: decided.position, recorded_at: decided.recordedAt },
      anchor: null,
    });
  });

  return app;
}
