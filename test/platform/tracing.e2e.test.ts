/**
 * OpenTelemetry (contract section 11), against a real local OTLP/HTTP receiver (a
 * node:http server reading the exporter's JSON payloads): with
 * `OTEL_EXPORTER_OTLP_ENDPOINT` set, one `POST /actions` carrying a W3C `traceparent`
 * exports the spans of authenticate, parse, facts, decide, record and execute under a
 * server span whose parent is the caller's, all with the caller's trace id; the command
 * the broker runs sees the execute span as its `TRACEPARENT`, and the decision records
 * the caller's. With no endpoint, nothing is exported and the command sees the caller's
 * header unchanged. Under Node, and under Deno (with deno.json's permissions but not
 * --allow-run, as the process tests run it: a policy-only request there, no command).
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { requireBwrap } from "../execution/brokerSupport.ts";
import { readDevCredentials, tempDir } from "../support/harness.ts";
import { killAllChildren, requireDeno, spawnServer } from "../support/spawnServer.ts";
import { waitFor } from "../support/waitFor.ts";

interface ExportedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
}

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN}-01`;
const STAGES = ["zt.authenticate", "zt.parse", "zt.facts", "zt.decide", "zt.record", "zt.execute"];

const spans: ExportedSpan[] = [];
const contentTypes = new Set<string>();
const receiver = createServer((request: IncomingMessage, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    contentTypes.add(String(request.headers["content-type"]));
    if (request.method === "POST" && request.url === "/v1/traces") {
      const payload = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      for (const resource of payload.resourceSpans ?? []) for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans);
    }
    response.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
});
let endpoint = "";
const dirs: string[] = [];

before(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});
after(async () => {
  await killAllChildren();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const shell = { actor: "agent:ops-1", action: "shell.exec", resource: "host:sandbox", execute: { broker: "bwrap", command: ["env"], timeout_ms: 5000 } };
const quote = { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/jupiter" };

async function oneTracedRequest(runtime: "node" | "deno", env: Record<string, string>) {
  const dataDir = tempDir(`zt-otel-${runtime}-`);
  dirs.push(dataDir);
  const server = await spawnServer({ runtime, dataDir, env });
  try {
    const tokens = readDevCredentials(dataDir);
    const reply =
      runtime === "node"
        ? await server.request("POST", "/actions", { token: tokens.ops1, json: shell, headers: { traceparent: TRACEPARENT } })
        : await server.request("POST", "/actions", { token: tokens.desk7, json: quote, headers: { traceparent: TRACEPARENT } });
    assert.equal(reply.status, 200, reply.text);
    if (runtime === "node") assert.equal(reply.json.execution.status, "completed", reply.text);
    const decision = await server.request("GET", `/decisions/${reply.json.decision_id}`, { token: tokens.operator });
    return { stdout: String(reply.json.execution?.stdout), recorded: decision.json.traceparent, server, tokens };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

describe("OpenTelemetry", () => {
  for (const runtime of ["node", "deno"] as const) {
    test(`under ${runtime}: one request's spans reach the OTLP receiver with the caller's trace id, and the command joins the trace`, async () => {
      if (runtime === "deno") requireDeno();
      else requireBwrap();
      const stages = runtime === "deno" ? STAGES.filter((name) => name !== "zt.execute") : STAGES;
      spans.length = 0;
      const { stdout, recorded, server } = await oneTracedRequest(runtime, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: "100", OTEL_SERVICE_NAME: `zt-infra-${runtime}` });
      try {
        const traced = await waitFor(
          "the request's spans at the receiver",
          () => {
            const ours = spans.filter((span) => span.traceId === TRACE_ID);
            return ["POST /actions", ...stages].every((name) => ours.some((span) => span.name === name)) ? ours : undefined;
          },
          { timeoutMs: 20_000 },
        );
        const root = traced.find((span) => span.name === "POST /actions")!;
        assert.equal(root.parentSpanId, CALLER_SPAN, "the server span's parent is the caller's span");
        assert.equal(root.kind, 2, "SPAN_KIND_SERVER");
        for (const name of stages) {
          const stage = traced.find((span) => span.name === name)!;
          assert.equal(stage.parentSpanId, root.spanId, `${name} is a child of the request's span`);
        }
        assert.ok([...contentTypes].every((type) => type.startsWith("application/json")), [...contentTypes].join(", "));
        if (runtime === "node") {
          const execute = traced.find((span) => span.name === "zt.execute")!;
          assert.match(stdout, new RegExp(`^TRACEPARENT=00-${TRACE_ID}-${execute.spanId}-01$`, "m"), stdout);
        }
        assert.equal(recorded, TRACEPARENT, "the decision records the caller's traceparent");
      } finally {
        await server.stop();
      }
    });
  }

  test("with no endpoint: nothing is exported, the command sees the caller's traceparent, and one that does not parse is dropped", async () => {
    requireBwrap();
    spans.length = 0;
    const { stdout, recorded, server, tokens } = await oneTracedRequest("node", {});
    try {
      assert.match(stdout, new RegExp(`^TRACEPARENT=${TRACEPARENT}$`, "m"));
      assert.equal(recorded, TRACEPARENT);
      const hostile = await server.request("POST", "/actions", { token: tokens.ops1, json: shell, headers: { traceparent: TRACEPARENT.toUpperCase() } });
      assert.equal(hostile.status, 200, hostile.text);
      assert.doesNotMatch(String(hostile.json.execution.stdout), /TRACEPARENT/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(spans.length, 0);
    } finally {
      await server.stop();
    }
  });
});
