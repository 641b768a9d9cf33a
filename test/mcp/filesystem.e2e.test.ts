/**
 * Acceptance (contract section 8, issue 13): a real MCP SDK client, over streamable HTTP
 * and through `zt mcp connect` over stdio, against the real filesystem server
 * (`@modelcontextprotocol/server-filesystem`, in its bwrap sandbox) behind the gateway
 * with the example bundle. desk-7 reads under public/; a read under private/, a `../`
 * escape, symlinks out (into private/, and out of the server's directory to the data
 * directory's credentials) and every write are denied with reasons and leave the disk as
 * it was; tools/list shows desk-7 no write tool. Every call is one ActionDecided in the
 * audit chain, which verifies, and the bytes of what was read are in no event.
 *
 * Denied calls are sent with `client.request(tools/call)`: the SDK's `callTool` checks an
 * isError result's structuredContent against the tool's output schema (SDK issue #1943),
 * and the filesystem server's read tools declare one.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { sha256Hex } from "../../src/kernel/hashing.ts";
import { canonicalJsonTrusted } from "../../src/kernel/jcs.ts";
import { tempDir } from "../support/harness.ts";
import { bridgeClient, httpClient, startGateway, type Gateway } from "../support/mcpGateway.ts";
import { killAllChildren, runZt } from "../support/spawnServer.ts";

const MARKER = `public-file-${crypto.randomUUID()}`;
const SECRET = `private-file-${crypto.randomUUID()}`;
const WRITE_TOOLS = ["write_file", "edit_file", "create_directory", "move_file"];

let gateway: Gateway;
let fsDir: string;
const tokenDir = tempDir("zt-mcp-tokens-");
/** Decision ids the gateway named in its answers, and how many decided calls were made. */
const named = new Set<string>();
let decidedCalls = 0;

/** Every file and link under a directory with its content hash (links with their target). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string) => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) out[full] = `link:${readlinkSync(full)}`;
      else if (stat.isDirectory()) {
        out[full] = "dir";
        walk(full);
      } else out[full] = createHash("sha256").update(readFileSync(full)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

before(async () => {
  gateway = await startGateway();
  fsDir = join(gateway.dataDir, "mcp", "fs");
  mkdirSync(join(fsDir, "public"), { recursive: true });
  mkdirSync(join(fsDir, "private"), { recursive: true });
  writeFileSync(join(fsDir, "public", "hello.txt"), `${MARKER}\n`);
  writeFileSync(join(fsDir, "private", "secret.txt"), `${SECRET}\n`);
  symlinkSync(join(fsDir, "private", "secret.txt"), join(fsDir, "public", "to-private.txt"));
  symlinkSync(join(gateway.dataDir, "dev-credentials.json"), join(fsDir, "public", "to-credentials.json"));
});

after(async () => {
  await gateway?.close();
  await killAllChildren();
  rmSync(tokenDir, { recursive: true, force: true });
});

function suite(transport: "streamable HTTP" | "the stdio bridge", connect: (endpoint: string, token: string) => Promise<Client>) {
  describe(`desk-7 through /mcp/fs over ${transport}`, () => {
    let client: Client;
    before(async () => {
      client = await connect(`${gateway.url}/mcp/fs`, gateway.tokens.desk7);
    });
    after(async () => {
      await client?.close();
    });

    const call = async (name: string, args: Record<string, unknown>) => {
      decidedCalls += 1;
      return client.request({ method: "tools/call", params: { name, arguments: args } }, CallToolResultSchema);
    };

    test("the upstream's own server info comes through initialize; tools/list shows desk-7 the read tools and no write tool", async () => {
      assert.equal(client.getServerVersion()?.name, "secure-filesystem-server");
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      for (const read of ["read_text_file", "read_multiple_files", "list_directory", "get_file_info", "list_allowed_directories"]) assert.ok(names.includes(read), `${read} in ${names}`);
      for (const write of WRITE_TOOLS) assert.ok(!names.includes(write), `${write} hidden from desk-7`);
    });

    test("an allowed read returns the file, unchanged, as the SDK's callTool sees it", async () => {
      decidedCalls += 1;
      const result = await client.callTool({ name: "read_text_file", arguments: { path: join(fsDir, "public", "hello.txt") } });
      assert.equal(result.isError, undefined);
      assert.deepEqual(result.content, [{ type: "text", text: `${MARKER}\n` }]);
      assert.deepEqual(result.structuredContent, { content: `${MARKER}\n` });
      const relative = await call("read_text_file", { path: "public/hello.txt" });
      assert.deepEqual(relative.content, [{ type: "text", text: `${MARKER}\n` }]);
      const listed = await call("list_directory", { path: join(fsDir, "public") });
      assert.match(JSON.stringify(listed.content), /hello\.txt/);
    });

    const denials: Array<[string, string, () => Record<string, unknown>]> = [
      ["a read under private/", "read_text_file", () => ({ path: join(fsDir, "private", "secret.txt") })],
      ["a ../ escape from public/", "read_text_file", () => ({ path: `${fsDir}/public/../private/secret.txt` })],
      ["a relative ../ escape", "read_text_file", () => ({ path: "public/../private/secret.txt" })],
      ["a symlink in public/ into private/", "read_text_file", () => ({ path: join(fsDir, "public", "to-private.txt") })],
      ["a symlink out of the server's directory", "read_text_file", () => ({ path: join(fsDir, "public", "to-credentials.json") })],
      ["several files, one of them private", "read_multiple_files", () => ({ paths: [join(fsDir, "public", "hello.txt"), join(fsDir, "private", "secret.txt")] })],
      ["a listing of private/", "list_directory", () => ({ path: join(fsDir, "private") })],
      ["a write", "write_file", () => ({ path: join(fsDir, "public", "new.txt"), content: "written" })],
      ["an edit", "edit_file", () => ({ path: join(fsDir, "public", "hello.txt"), edits: [{ oldText: "public-file", newText: "edited" }] })],
      ["a new directory", "create_directory", () => ({ path: join(fsDir, "public", "made") })],
      ["a move", "move_file", () => ({ source: join(fsDir, "public", "hello.txt"), destination: join(fsDir, "public", "moved.txt") })],
    ];
    for (const [what, tool, args] of denials) {
      test(`${what} (${tool}) is denied with its reason and decision id, and the upstream never sees it`, async () => {
        const result = await call(tool, args());
        assert.equal(result.isError, true, JSON.stringify(result));
        const structured = result.structuredContent as Record<string, unknown>;
        assert.deepEqual(Object.keys(structured).sort(), ["decision_id", "policy_id", "reason", "status"]);
        assert.equal(structured["status"], "denied");
        assert.equal(structured["reason"], "policy_denied");
        assert.equal(structured["policy_id"], "policy_mainnet_v1");
        assert.match(String(structured["decision_id"]), /^dec_[0-9A-HJKMNP-TV-Z]{26}$/);
        const text = (result.content as Array<{ text: string }>)[0]!.text;
        assert.match(text, /policy_denied/);
        assert.ok(text.includes(String(structured["decision_id"])));
        assert.doesNotMatch(JSON.stringify(result), new RegExp(SECRET));
        named.add(String(structured["decision_id"]));
      });
    }

    test("the disk is as it was: nothing written, moved or created", () => {
      assert.deepEqual(snapshot(fsDir), before_);
    });

    test("the decision of a denial reads back (GET /decisions/:id) as the call it was", async () => {
      const result = await call("read_text_file", { path: join(fsDir, "private", "secret.txt") });
      const id = String((result.structuredContent as Record<string, unknown>)["decision_id"]);
      named.add(id);
      const read = await fetch(`${gateway.url}/decisions/${id}`, { headers: { authorization: `Bearer ${gateway.tokens.desk7}` } });
      const decision = (await read.json()) as Record<string, unknown>;
      assert.equal(read.status, 200);
      assert.equal(decision["status"], "denied");
      assert.equal(decision["action"], "mcp.tools_call");
      assert.equal(decision["resource"], "mcp:fs/read_text_file");
      assert.deepEqual(decision["invariant_checks"], [{ name: "actor_binding", ok: true }, { name: "cedar_policy", ok: false }]);
    });
  });
}

let before_: Record<string, string>;
test("the directory before any call", () => {
  before_ = snapshot(fsDir);
  assert.ok(Object.keys(before_).length >= 6);
});

suite("streamable HTTP", (endpoint, token) => httpClient(endpoint, token));
suite("the stdio bridge", (endpoint, token) => bridgeClient(endpoint, token, tokenDir));

describe("the audit trail of the calls", () => {
  test("one ActionDecided per decided call, each named denial among them; allowed calls carry the hash of their answer, never its bytes", async () => {
    const decided = gateway.events().filter((event) => event.type === "ActionDecided.v1" && JSON.parse(event.data).request?.action === "mcp.tools_call");
    assert.equal(decided.length, decidedCalls);
    const ids = new Set(decided.map((event) => JSON.parse(event.data).decision_id as string));
    for (const id of named) assert.ok(ids.has(id), `${id} recorded`);
    const allowed = decided.filter((event) => JSON.parse(event.data).status === "allowed");
    assert.ok(allowed.length >= 6);
    const answered = gateway.events().filter((event) => event.type === "McpCallAnswered.v1");
    assert.equal(answered.length, allowed.length, "each allowed call's answer is recorded on its decision's stream");
    for (const event of answered) {
      const data = JSON.parse(event.data);
      assert.ok(ids.has(data.decision_id));
      assert.equal(event.stream, `decision-${data.decision_id}`);
      assert.match(data.response_sha256, /^[0-9a-f]{64}$/);
    }
    const readHash = sha256Hex(canonicalJsonTrusted({ content: [{ type: "text", text: `${MARKER}\n` }], structuredContent: { content: `${MARKER}\n` } }));
    assert.ok(answered.some((event) => JSON.parse(event.data).response_sha256 === readHash), "the hash of the allowed read's answer is on its decision's stream");
    for (const event of gateway.events()) {
      assert.ok(!event.data.includes(MARKER), `${event.type} holds no byte of what was read`);
      assert.ok(!event.data.includes(SECRET));
    }
    const storeBytes = readdirSync(gateway.dataDir).filter((name) => name.startsWith("events.db")).map((name) => readFileSync(join(gateway.dataDir, name)).toString("latin1"));
    assert.ok(storeBytes.every((bytes) => !bytes.includes(MARKER)), "nor anywhere in the store's files");
    assert.ok(gateway.logs.every((line) => !line.includes(MARKER) && !line.includes(gateway.tokens.desk7)), "nor in a log line, with the token");
  });

  test("metrics count the calls per server and tool, the denials per reason, and the upstream's latency", async () => {
    const metrics = await (await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${gateway.tokens.operator}` } })).text();
    const value = (line: string) => Number(metrics.split("\n").find((entry) => entry.startsWith(line))?.slice(line.length + 1) ?? NaN);
    assert.ok(value('zt_mcp_calls_total{server="fs",method="tools/call",name="read_text_file",outcome="answered"}') >= 2, metrics);
    assert.ok(value('zt_mcp_denials_total{server="fs",name="read_text_file",reason="policy_denied"}') >= 5);
    assert.ok(value('zt_mcp_denials_total{server="fs",name="(unlisted)",reason="policy_denied"}') >= 4, "write tools desk-7 never saw listed share one label");
    assert.ok(value('zt_mcp_upstream_duration_seconds_count{server="fs"}') >= 6);
  });

  test("every call is in the audit chain, and zt audit verify passes", async () => {
    await gateway.projected();
    const verify = await runZt(["audit", "verify", "--store", `sqlite:${join(gateway.dataDir, "events.db")}`, "--keys", join(gateway.dataDir, "keys", "audit.pub.json"), "--json"], { timeoutMs: 60_000 });
    assert.equal(verify.code, 0, `${verify.stdout}\n${verify.stderr}`);
    const records = (await (await fetch(`${gateway.url}/audit/records?after=0&limit=1000`, { headers: { authorization: `Bearer ${gateway.tokens.operator}` } })).json()) as { records: Array<{ event_type: string }> };
    const chained = records.records.filter((record) => record.event_type === "ActionDecided.v1").length;
    assert.ok(chained >= decidedCalls, `${chained} decisions chained for ${decidedCalls} calls`);
  });
});
