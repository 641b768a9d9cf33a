/**
 * `/mcp` (every upstream, names prefixed `<server_id>__`) and `/mcp/<server_id>` (one
 * upstream, its own names): MCP streamable HTTP for agents (contract section 8). The
 * bearer token's actor is the caller; the operator token has no actor and is refused.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../http/auth.ts";
import { problem } from "../http/problem.ts";
import type { McpGatewayShape } from "./McpGateway.ts";

export function mcpRoutes(gateway: McpGatewayShape) {
  const app = new Hono<AppEnv>();
  const serve = (c: Context<AppEnv>, scope: string | null) => {
    const principal = c.get("principal");
    if (principal.role !== "agent") return problem(c, "forbidden", "the MCP endpoints are for agents: the caller is the actor of an agent token");
    return gateway.handle(c.req.raw, principal, scope);
  };
  app.all("/mcp", (c) => serve(c, null));
  app.all("/mcp/:server", (c) => {
    const serverId = c.req.param("server");
    if (!gateway.serverIds.includes(serverId)) return problem(c, "not_found", "no MCP server has this id");
    return serve(c, serverId);
  });
  return app;
}
