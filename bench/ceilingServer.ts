/**
 * Ceiling A of the HTTP benchmark: a bare Hono endpoint on the same Node server adapter
 * as the control plane, reading and parsing the same JSON body and answering a small
 * JSON object. Nothing else: no auth, no policy, no store. Prints its port on stdout.
 */
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.post("/actions", async (c) => {
  const body = (await c.req.json()) as { action?: unknown };
  return c.json({ status: "allowed", action: body.action ?? null });
});
const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => console.log(JSON.stringify({ port: info.port })));
process.once("SIGTERM", () => server.close(() => process.exit(0)));
