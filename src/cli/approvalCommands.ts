/**
 * `zt approvals list|approve|reject`: an operator's client of the approvals endpoints of a
 * running control plane (contract section 9). The approver is whoever the token
 * authenticates; the token comes from `--token-file` (its first line) or `ZT_TOKEN`, and
 * is never printed. Exit codes: 0 done, 1 refused by the server (no such approval, or it
 * takes no such vote), 2 bad usage, a token the server refuses, or no server.
 */
import { readFileSync } from "node:fs";
import { parse, text, UsageError } from "./args.ts";

const TIMEOUT_MS = 10_000;

interface Reply {
  readonly status: number;
  readonly json: any;
}

function serverUrl(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): string {
  const url = text(values, "url") ?? `http://${env["ZT_HOST"] ?? "127.0.0.1"}:${env["ZT_PORT"] ?? "8787"}`;
  if (!URL.canParse(url)) throw new UsageError("--url must be a URL such as http://127.0.0.1:8787");
  return url.replace(/\/$/, "");
}

function token(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): string {
  const file = text(values, "token-file");
  if (file !== undefined) {
    let content: string;
    try {
      content = readFileSync(file, "utf8");
    } catch (error) {
      throw new UsageError(`--token-file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
    const first = content.split("\n")[0]!.trim();
    if (first === "") throw new UsageError(`--token-file ${file} is empty`);
    return first;
  }
  const fromEnv = env["ZT_TOKEN"];
  if (fromEnv === undefined || fromEnv === "") throw new UsageError("an operator token is needed: --token-file FILE or ZT_TOKEN");
  return fromEnv;
}

async function call(method: string, url: string, bearer: string, body?: unknown): Promise<Reply> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      signal: AbortSignal.timeout(TIMEOUT_MS),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new UsageError(`no answer from ${new URL(url).origin}: ${(error as Error).name === "TimeoutError" ? "timed out" : "unreachable"}`);
  }
  const textBody = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(textBody);
  } catch {
    json = { detail: textBody.slice(0, 200) };
  }
  return { status: response.status, json };
}

/** Prints a refusal and answers its exit code: 2 for a token problem, 1 otherwise. */
function refused(reply: Reply): number {
  console.error(`zt: ${reply.status} ${reply.json?.reason ?? "error"}: ${reply.json?.detail ?? ""}`);
  return reply.status === 401 || reply.status === 403 || reply.status >= 500 ? 2 : 1;
}

function line(approval: any): string {
  const granted = approval.granted_by.length > 0 ? ` granted by ${approval.granted_by.join(", ")}` : "";
  const notional = approval.notional_usd === null ? "" : ` ${approval.notional_usd} USD`;
  return `${approval.approval_id}  ${approval.status.padEnd(8)}  ${approval.actor} ${approval.action} ${approval.resource}${notional}  quorum ${approval.quorum}${granted}  expires ${approval.expires_at}`;
}

export async function runApprovalCommand(sub: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const common = { url: { type: "string" }, "token-file": { type: "string" } } as const;
  if (sub === "list") {
    const { values } = parse(args, { ...common, status: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" } });
    const query = new URLSearchParams();
    for (const name of ["status", "limit"]) {
      const value = text(values, name);
      if (value !== undefined) query.set(name, value);
    }
    const reply = await call("GET", `${serverUrl(values, env)}/approvals${query.size > 0 ? `?${query}` : ""}`, token(values, env));
    if (reply.status !== 200) return refused(reply);
    if (values["json"] === true) console.log(JSON.stringify(reply.json, null, 2));
    else if (reply.json.approvals.length === 0) console.log("no approvals");
    else for (const approval of reply.json.approvals) console.log(line(approval));
    return 0;
  }
  const { values, positionals } = parse(args, { ...common, note: { type: "string" } }, 1);
  const id = positionals[0];
  if (id === undefined) throw new UsageError(`zt approvals ${sub} needs an APPROVAL_ID`);
  const note = text(values, "note");
  const reply = await call("POST", `${serverUrl(values, env)}/approvals/${encodeURIComponent(id)}/${sub}`, token(values, env), note === undefined ? {} : { note });
  if (reply.status !== 200) return refused(reply);
  console.log(JSON.stringify(reply.json, null, 2));
  return 0;
}
