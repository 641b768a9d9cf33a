/**
 * Bearer authentication (contract section 2): every route but the public ones needs a
 * token; a missing or unknown token answers 401 and nothing is recorded. The token is
 * hashed and looked up; it is never logged or echoed.
 */
import type { Tracer } from "effect";
import type { Context, MiddlewareHandler } from "hono";
import type { Credentials, Principal } from "../identity/Credentials.ts";
import { problem } from "./problem.ts";

/** `span`: the request's span when tracing is on (app.ts), the parent of what the request does. */
export type AppEnv = { Variables: { principal: Principal; span: Tracer.Span | undefined } };

/** Runs a step of a request in a span of the request's own, when tracing is on. */
export type SpanRunner = <A>(c: Context<AppEnv>, name: string, work: () => A) => Promise<A>;

export const PUBLIC_PATHS = new Set(["/healthz", "/readyz", "/keys", "/openapi.json"]);

/** The console's page and its code hold no data (sign-in happens in the page), so a browser loads them without a token. */
export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.has(path) || path === "/console" || path === "/console/" || path.startsWith("/console/assets/");
}

// RFC 7235 section 2.1: the scheme name is case-insensitive, and one or more spaces separate it from the credentials.
const BEARER = /^bearer +([\x21-\x7e]+)$/i;

export function authenticate(credentials: Credentials, inSpan?: SpanRunner): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (isPublicPath(c.req.path)) return next();
    const token = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    const who = () => (token === undefined ? undefined : credentials.authenticate(token));
    const principal = inSpan === undefined ? who() : await inSpan(c, "zt.authenticate", who);
    if (principal === undefined) {
      c.header("WWW-Authenticate", 'Bearer realm="zt-infra"');
      return problem(c, "unauthorized", "a valid bearer token is required");
    }
    c.set("principal", principal);
    return next();
  };
}

export const requireOperator: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.get("principal").role !== "operator") {
    return problem(c, "forbidden", "this endpoint needs an operator token");
  }
  return next();
};
