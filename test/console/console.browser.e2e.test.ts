/**
 * Acceptance (contract section 10): the console in a real browser, Debian's Chromium
 * driven by playwright-core, against a control plane serving it on a socket with its own
 * anvil (`ZT_CHAIN=local`, so checkpoints get real anchors): sign-in, a decision
 * appearing live, filtering, the chart, the approvals queue, the audit view with a
 * receipt, verifying a decision's proof in the browser (and a tampered one failing), an
 * agent seeing only its own decisions, keyboard use, labels and contrast (axe-core, WCAG
 * 2.2 AA) at a laptop's and a phone's width, and a burst of decisions drawn through the
 * virtualised list.
 *
 * Screenshots of each view go to a temporary directory, or, with ZT_UPDATE_SCREENSHOTS=1,
 * to docs/images/ where the documents show them (committed; regenerate them after a change
 * to the page). Without Chromium the test fails saying how to install it, unless
 * ZT_REQUIRE_CHROMIUM=0 skips it (with that reason).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { auditKeysFrom } from "../../src/audit/checkEvidence.ts";
import { loadConfig } from "../../src/config.ts";
import { MAX_STREAMS_PER_PRINCIPAL } from "../../src/console/routes.ts";
import { makeLogSink } from "../../src/platform/Logging.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { readDevCredentials, REPO_ROOT, SEED_CONSTRAINTS, swapRequest, tempDir, type DevCredentials } from "../support/harness.ts";
import { waitFor } from "../support/waitFor.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_OPTIONAL = process.env["ZT_REQUIRE_CHROMIUM"] === "0";
const skip = !existsSync(CHROMIUM) && CHROMIUM_OPTIONAL ? "skipped: Chromium is not installed and ZT_REQUIRE_CHROMIUM=0" : false;
const SCREENSHOTS = process.env["ZT_UPDATE_SCREENSHOTS"] === "1" ? join(REPO_ROOT, "docs", "images") : tempDir("zt-console-shots-");
const LAPTOP = { width: 1366, height: 860 };
const PHONE = { width: 390, height: 844 };
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

describe("the console in Chromium", { skip }, () => {
  const dataDir = tempDir("zt-console-e2e-");
  let server: RunningServer;
  let tokens: DevCredentials;
  let browser: Browser;
  /** Every context opened, with the CSP violations and page errors it saw. */
  const problems: string[] = [];

  const act = async (token: string, body: unknown) => {
    const response = await fetch(`${server.url}/actions`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as any };
  };
  const asOperator = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${tokens.operator}`, "content-type": "application/json", ...(init.headers as Record<string, string>) } });
    return { status: response.status, json: (await response.json().catch(() => undefined)) as any };
  };
  const quote = (actor: "agent:desk-7" | "agent:ops-1") => ({ actor, action: "quote.read", resource: "solana:mainnet/jupiter" });

  async function open(viewport = LAPTOP, options: { bypassCSP?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport, ...options });
    const page = await context.newPage();
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      // The browser logs every 4xx answer as an error; those are the tests' own doing.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource: the server responded with a status of 4")) problems.push(`console error: ${message.text()}`);
    });
    await page.goto(`${server.url}/console`);
    return { context, page };
  }

  async function signIn(page: Page, token: string) {
    await page.getByLabel("Bearer token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
  }

  async function screenshot(page: Page, name: string) {
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
  }

  /** axe-core's WCAG 2.2 A/AA rules on the page as it is: no violation. */
  async function accessible(page: Page, what: string) {
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const result = await (globalThis as any).axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] } });
      return result.violations.map((v: any) => `${v.id}: ${v.help} (${v.nodes.map((n: any) => n.target.join(" ")).slice(0, 3).join(", ")})`);
    });
    assert.deepEqual(violations, [], `${what}: axe-core found WCAG violations`);
  }

  async function noHorizontalScroll(page: Page, what: string) {
    const { overflow, widest } = await page.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      widest: Array.from(document.querySelectorAll("body *"))
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth && !e.closest("dialog:not([open])") && (!e.closest(".scroll-x") || getComputedStyle(e).position === "absolute"))
        .slice(0, 5)
        .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}.${e.className} (${getComputedStyle(e).position}, right ${Math.round(e.getBoundingClientRect().right)})`),
    }));
    assert.ok(overflow <= 0, `${what}: the page is ${overflow}px wider than the screen (${widest.join(", ")})`);
  }

  const rowsText = (page: Page) => page.locator("#decision-rows .row:not([hidden])").allInnerTexts();

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set ZT_REQUIRE_CHROMIUM=0 to skip the browser tests`);
    const config = loadConfig({
      ZT_DATA_DIR: dataDir,
      ZT_POLICY_DIR: join(REPO_ROOT, "policies"),
      ZT_HOST: "127.0.0.1",
      ZT_PORT: "0",
      ZT_CHAIN: "local",
      ZT_CHECKPOINT_RECORDS: "8",
      ZT_CHECKPOINT_MS: "300",
      ZT_ANCHOR_POLL_MS: "50",
      ZT_ANCHOR_RETRY_BASE_MS: "50",
      ZT_ANCHOR_RETRY_MAX_MS: "500",
    });
    server = await startServer(config, makeLogSink("warn"));
    tokens = readDevCredentials(dataDir);
    browser = await chromium.launch({ executablePath: CHROMIUM });
    assert.equal((await asOperator("/market/snapshot", { method: "PUT", body: JSON.stringify({ as_of: new Date().toISOString(), prices: { SOL: 142.1 } }) })).status, 200);
    for (let i = 0; i < 3; i++) {
      await act(tokens.desk7, quote("agent:desk-7"));
      await act(tokens.desk7, swapRequest());
      await act(tokens.ops1, quote("agent:ops-1"));
    }
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (process.env["ZT_UPDATE_SCREENSHOTS"] !== "1") rmSync(SCREENSHOTS, { recursive: true, force: true });
  });

  test("sign-in: a wrong token is refused in the page; the operator's token opens every view", async () => {
    const { context, page } = await open();
    try {
      await accessible(page, "sign-in");
      await screenshot(page, "console-sign-in-laptop");
      await page.getByLabel("Bearer token").fill("zt_not-a-token");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").filter({ hasText: "This token is not valid on this server." }).waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");
      await signIn(page, tokens.operator);
      assert.equal(await page.evaluate(() => sessionStorage.getItem("zt-console-token") !== null), true, "kept in session storage");
      assert.equal(await page.evaluate(() => localStorage.length), 0, "never in local storage");
      for (const view of ["Decisions", "Denials", "Approvals", "Audit"]) assert.ok(await page.getByRole("link", { name: view }).isVisible(), view);
      assert.equal(await page.locator("#who").textContent(), "Signed in as operator:alice");
      // A reload keeps the session (same tab); signing out forgets it.
      await page.reload();
      await page.getByRole("button", { name: "Sign out" }).waitFor();
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByLabel("Bearer token").waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    } finally {
      await context.close();
    }
  });

  test("a decision appears live, and filters select on the server", async () => {
    const { context, page } = await open();
    try {
      await signIn(page, tokens.operator);
      await page.getByText("Live", { exact: true }).waitFor();
      const fresh = await act(tokens.ops1, quote("agent:ops-1"));
      await page.locator("#decision-rows").getByText(fresh.json.decision_id).waitFor();
      await accessible(page, "decisions");
      await screenshot(page, "console-decisions-laptop");

      await page.getByLabel("Status").selectOption("denied");
      await page.getByLabel("Reason", { exact: true }).selectOption("permit_required");
      await page.getByRole("button", { name: "Apply filters" }).click();
      const allowed = await act(tokens.desk7, quote("agent:desk-7"));
      const denied = await act(tokens.desk7, swapRequest());
      assert.equal(denied.json.reason, "permit_required");
      await page.locator("#decision-rows").getByText(denied.json.decision_id).waitFor();
      const rows = await rowsText(page);
      assert.ok(rows.length >= 4, "the backfill and the live one");
      assert.ok(rows.every((row) => row.includes("denied") && row.includes("permit_required")), rows.join("\n"));
      assert.ok(!rows.some((row) => row.includes(allowed.json.decision_id)), "the allowed decision is filtered out");

      await page.getByRole("button", { name: "Clear" }).click();
      await page.getByLabel("Actor").fill("agent:ops-1");
      await page.getByLabel("Action").fill("quote.read");
      await page.getByRole("button", { name: "Apply filters" }).click();
      // The unfiltered list (after Clear) holds this decision too: wait for the filtered stream to replace it.
      const opsRows = await waitFor("only agent:ops-1's quote.read rows", async () => {
        const shown = await rowsText(page);
        return shown.some((row) => row.includes(fresh.json.decision_id)) && shown.every((row) => row.includes("agent:ops-1") && row.includes("quote.read")) ? shown : undefined;
      });
      assert.ok(opsRows.length >= 4, "the backfill of ops-1's quotes");
    } finally {
      await context.close();
    }
  });

  test("verify: a decision's proof checks in the browser against the checkpoint and the published key; a tampered one fails", async () => {
    const decision = await act(tokens.desk7, swapRequest());
    const id: string = decision.json.decision_id;
    await waitFor("a checkpoint over the decision", async () => ((await asOperator(`/audit/proofs/${id}`)).status === 200 ? true : undefined));
    const auditKey = [...auditKeysFrom(await (await fetch(`${server.url}/keys`)).json()).keys()][0]!;

    const { context, page } = await open();
    try {
      await signIn(page, tokens.operator);
      await page.getByRole("button", { name: `Verify decision ${id}` }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByText("Verified in this browser").waitFor();
      const basis = (await page.locator("#verify-basis").textContent()) ?? "";
      const proof = (await asOperator(`/audit/proofs/${id}`)).json;
      assert.match(basis, new RegExp(`Checked against checkpoint ${proof.batch_id} \\(tree size ${proof.tree_size}, root ${proof.root.slice(0, 12)}`));
      assert.match(basis, new RegExp(`signed by audit key ${auditKey} as published at /keys`));
      assert.equal(await page.locator("#verify-checks li.failed").count(), 0);
      assert.equal(await page.locator("#verify-checks li.ok").count(), 9);
      await accessible(page, "verify dialog");
      await screenshot(page, "console-verify-laptop");
      await page.keyboard.press("Escape");

      // A server that lies: one altered path node, then a rewritten decision.
      const tamper = async (alter: (evidence: any) => void, shot?: string) => {
        await page.unroute("**/console/api/evidence/**");
        await page.route("**/console/api/evidence/**", async (route) => {
          const response = await route.fetch();
          const evidence = await response.json();
          alter(evidence);
          await route.fulfill({ response, json: evidence });
        });
        await page.getByRole("button", { name: `Verify decision ${id}` }).click();
        await dialog.getByText("Verification FAILED").waitFor();
        const failed = await page.locator("#verify-checks li.failed").allInnerTexts();
        if (shot !== undefined) await screenshot(page, shot);
        await page.keyboard.press("Escape");
        return failed;
      };
      const flip = (hex: string) => `${hex[0] === "0" ? "1" : "0"}${hex.slice(1)}`;
      const path = await tamper((e) => (e.proof.audit_path[0] = flip(e.proof.audit_path[0])));
      assert.ok(path.some((line) => line.startsWith("inclusion:")), path.join("\n"));
      await page.route("**/console/api/evidence/**", async (route) => route.continue());
      const rewritten = await tamper((e) => (e.event.data.status = "allowed"), "console-verify-tampered-laptop");
      assert.ok(rewritten.some((line) => line.startsWith("receipt_hash:")), rewritten.join("\n"));
    } finally {
      await context.close();
    }
  });

  test("the chart shows denials by reason over time", async () => {
    const { context, page } = await open();
    try {
      await signIn(page, tokens.operator);
      await page.getByRole("link", { name: "Denials" }).click();
      await page.locator("#denials-caption").filter({ hasText: /\d+ denials of \d+ decisions/ }).waitFor();
      assert.ok((await page.locator("#denials-chart svg rect").count()) > 0, "bars are drawn");
      const table = await page.locator("#denials-table tr").allInnerTexts();
      assert.ok(table.some((row) => row.startsWith("permit_required")), table.join("\n"));
      assert.ok(table.some((row) => row.startsWith("policy_denied")), table.join("\n"));
      const legend = await page.locator("#denials-legend li").allInnerTexts();
      assert.ok(legend.some((item) => /^permit_required \(\d+\)$/.test(item)), legend.join("\n"));
      await accessible(page, "denials");
      await screenshot(page, "console-denials-laptop");
    } finally {
      await context.close();
    }
  });

  test("the audit view: head, checkpoints anchored on the local chain, and a receipt", async () => {
    await waitFor("a confirmed anchor", async () => ((await asOperator("/audit/batches")).json.batches.some((b: any) => b.anchor?.status === "confirmed") ? true : undefined), { timeoutMs: 30_000 });
    const batch = (await asOperator("/audit/batches")).json.batches.find((b: any) => b.anchor?.status === "confirmed");
    const { context, page } = await open();
    try {
      await signIn(page, tokens.operator);
      await page.getByRole("link", { name: "Audit" }).click();
      await page.locator("#checkpoints tr").first().waitFor();
      const head = await page.locator("#audit-head").innerText();
      assert.match(head, /Records\s+\d+/);
      assert.match(head, /Tree size\s+\d+/);
      assert.ok((await page.locator("#checkpoints").innerText()).includes("confirmed"));
      await accessible(page, "audit");
      await screenshot(page, "console-audit-laptop");
      await page.getByRole("button", { name: `Receipt of ${batch.batch_id}` }).click();
      const receipt = page.getByRole("dialog");
      await receipt.locator("#receipt-facts").getByText(batch.anchor.tx_hash).waitFor();
      const facts = await page.locator("#receipt-facts").innerText();
      assert.match(facts, /Chain\s+31337/);
      assert.ok(facts.includes(batch.anchor.contract));
      assert.match(await page.locator("#receipt-link").innerText(), /no public explorer; check it with: npx zt audit check-proof/);
      assert.match(await page.locator("#receipt-events").innerText(), /AnchorConfirmed\.v1/);
      await screenshot(page, "console-receipt-laptop");
    } finally {
      await context.close();
    }
  });

  test("approvals: the queue says how many requests wait", async () => {
    const { context, page } = await open();
    try {
      await signIn(page, tokens.operator);
      await page.getByRole("link", { name: "Approvals" }).click();
      await page.locator("#approvals-state").filter({ hasText: /waiting for approval/ }).waitFor();
      await accessible(page, "approvals");
      // A link to a request no longer pending says so.
      const gone = `apr_${"01M8S".padEnd(26, "0")}`;
      await page.goto(`${server.url}/console?approval=${gone}`);
      await page.locator("#approvals-state").filter({ hasText: `The linked request ${gone} is not waiting for approval` }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("approving a pending request in the console lets the agent's repeat through (contract section 9)", async () => {
    // Over 10,000 USD notional: the example bundle asks one approval for desk-7's swaps.
    const permit = (await asOperator("/permits", { method: "POST", body: JSON.stringify({ subject: "agent:desk-7", scope: "swap.execute", constraints: { ...SEED_CONSTRAINTS, max_notional_usd: 1_000_000 }, ttl_seconds: 300 }) })).json;
    const request = swapRequest({ permit, intent: { protocol: "jupiter", asset: "SOL", amount: "100", slippage_bps: 30 } });
    const pending = await act(tokens.desk7, request);
    assert.equal(pending.status, 202, JSON.stringify(pending.json));
    const approvalId: string = pending.json.approval_id;
    const { context, page } = await open();
    try {
      // As the approvals webhook's console_url links it: the approvals view, at this request, its note focused.
      await page.goto(`${server.url}/console?approval=${approvalId}`);
      await signIn(page, tokens.operator);
      const card = page.locator(`[data-approval="${approvalId}"]`);
      await card.waitFor();
      assert.equal(await page.locator("#view-approvals").isVisible(), true);
      await page.waitForFunction((id) => document.activeElement?.id === `note-${id}`, approvalId);
      assert.match((await card.getAttribute("class")) ?? "", /\blinked\b/);
      await page.keyboard.type("checked with the desk");
      assert.equal(await card.getByLabel("Note (optional)").inputValue(), "checked with the desk");
      await accessible(page, "an approval card");
      await screenshot(page, "console-approvals-laptop");
      await card.getByRole("button", { name: `Approve ${approvalId}` }).click();
      await card.waitFor({ state: "detached" });
    } finally {
      await context.close();
    }
    const repeated = await act(tokens.desk7, { ...request, approval_id: approvalId });
    assert.equal(repeated.status, 200, JSON.stringify(repeated.json));
    assert.equal(repeated.json.status, "allowed");
  });

  test("an agent sees only its own decisions, and no operator view", async () => {
    const { context, page } = await open();
    try {
      await signIn(page, tokens.desk7);
      assert.equal(await page.locator("#who").textContent(), "Signed in as agent:desk-7");
      assert.equal(await page.getByRole("link", { name: "Approvals" }).isVisible(), false);
      assert.equal(await page.getByRole("link", { name: "Audit" }).isVisible(), false);
      assert.equal(await page.getByLabel("Actor").inputValue(), "agent:desk-7");
      assert.equal(await page.getByLabel("Actor").isDisabled(), true);
      await page.getByText("Live", { exact: true }).waitFor();
      const others = await act(tokens.ops1, quote("agent:ops-1"));
      const own = await act(tokens.desk7, quote("agent:desk-7"));
      await page.locator("#decision-rows").getByText(own.json.decision_id).waitFor();
      const rows = await rowsText(page);
      assert.ok(rows.length >= 5);
      assert.ok(rows.every((row) => row.includes("agent:desk-7") && !row.includes("agent:ops-1")), rows.join("\n"));
      assert.ok(!rows.some((row) => row.includes(others.json.decision_id)));
      // Even a page edited to ask for another agent's stream gets nothing from the server.
      const refused = await page.evaluate(async () => (await fetch("/console/api/decisions/stream?actor=agent%3Aops-1", { headers: { authorization: `Bearer ${sessionStorage.getItem("zt-console-token")}` } })).status);
      assert.equal(refused, 403);
      await screenshot(page, "console-agent-laptop");
    } finally {
      await context.close();
    }
  });

  test("keyboard only: sign in, move between views, open a proof and close it, focus coming back", async () => {
    const { context, page } = await open();
    try {
      assert.equal(await page.evaluate(() => document.activeElement?.id), "token", "the token field has focus at once");
      await page.keyboard.type(tokens.operator);
      await page.keyboard.press("Enter");
      await page.getByRole("button", { name: "Sign out" }).waitFor();
      await page.locator("#decision-rows button").first().waitFor();
      // Tab until a Verify button has focus (through the nav, the filters and the controls).
      let focused = "";
      for (let i = 0; i < 40 && !focused.startsWith("Verify decision"); i++) {
        await page.keyboard.press("Tab");
        focused = await page.evaluate(() => document.activeElement?.getAttribute("aria-label") ?? document.activeElement?.textContent ?? "");
      }
      assert.match(focused, /^Verify decision dec_/, "a Verify button is reachable by Tab");
      await page.keyboard.press("Enter");
      await page.getByRole("dialog").getByText(/Verified in this browser|Not yet/).waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.closest("dialog") !== null), true, "focus moves into the dialog");
      await page.keyboard.press("Escape");
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), focused, "focus returns to the button");
      // The views by keyboard: the nav links are reachable and followable.
      await page.keyboard.press("Shift+Tab");
      await page.locator("nav a[href='#audit']").focus();
      await page.keyboard.press("Enter");
      await page.locator("#view-audit").waitFor();
      assert.equal(await page.locator("nav a[aria-current='page']").textContent(), "Audit");
      const outline = await page.evaluate(() => {
        const link = document.querySelector<HTMLElement>("nav a[href='#decisions']")!;
        link.focus();
        return getComputedStyle(link).outlineStyle;
      });
      assert.notEqual(outline, "none", "focus is visible");
    } finally {
      await context.close();
    }
  });

  test("at a phone's width: every view fits the screen and passes axe-core", async () => {
    const { context, page } = await open(PHONE);
    try {
      await accessible(page, "sign-in (phone)");
      await noHorizontalScroll(page, "sign-in (phone)");
      await signIn(page, tokens.operator);
      await page.locator("#decision-rows .row").first().waitFor();
      for (const view of ["decisions", "denials", "approvals", "audit"]) {
        await page.goto(`${server.url}/console#${view}`);
        await page.locator(`#view-${view}`).waitFor();
        await page.waitForTimeout(300);
        await noHorizontalScroll(page, view);
        await accessible(page, `${view} (phone)`);
        await screenshot(page, `console-${view}-phone`);
      }
    } finally {
      await context.close();
    }
  });

  test("a burst of decisions: all arrive, the list keeps only the rows in view in the DOM", async () => {
    const { context, page } = await open();
    try {
      await signIn(page, tokens.operator);
      await page.getByText("Live", { exact: true }).waitFor();
      const before = Number(/([\d,]+) received/.exec((await page.locator("#stream-count").textContent()) ?? "")?.[1]?.replaceAll(",", "") ?? 0);
      const BURST = 1500;
      for (let sent = 0; sent < BURST; sent += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, i) => act((sent + i) % 2 ? tokens.desk7 : tokens.ops1, quote((sent + i) % 2 ? "agent:desk-7" : "agent:ops-1"))));
      }
      await waitFor("every decision of the burst in the page", async () => {
        const text = (await page.locator("#stream-count").textContent()) ?? "";
        const received = Number(/([\d,]+) received/.exec(text)?.[1]?.replaceAll(",", "") ?? 0);
        return received - before >= BURST ? true : undefined;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      const rows = await page.locator("#decision-rows .row").count();
      assert.ok(rows < 80, `${rows} row elements for ${BURST}+ decisions: the list is virtualised`);
      const rowCount = Number(await page.locator("#decision-table").getAttribute("aria-rowcount"));
      assert.ok(rowCount > BURST && rowCount <= 5001, `aria-rowcount ${rowCount} counts every decision shown (up to 5,000) and the header row`);
      // Scrolling far down draws the rows there.
      await page.locator("#decision-rows").evaluate((viewport) => (viewport.scrollTop = viewport.scrollHeight / 2));
      await page.waitForTimeout(200);
      const index = Number(await page.locator("#decision-rows .row:not([hidden])").first().getAttribute("aria-rowindex"));
      assert.ok(index > 100, `rows around the middle are drawn (first drawn row ${index})`);
    } finally {
      await context.close();
    }
  });

  test("streams a client hangs up are released on the socket: three times the per-token limit, one after another", async () => {
    for (let i = 0; i < 3 * MAX_STREAMS_PER_PRINCIPAL; i++) {
      const stop = new AbortController();
      const response = await fetch(`${server.url}/console/api/decisions/stream?backfill=1`, { headers: { authorization: `Bearer ${tokens.ops1}` }, signal: stop.signal });
      assert.equal(response.status, 200, `stream ${i + 1}`);
      const reader = response.body!.getReader();
      await reader.read();
      stop.abort();
      await reader.cancel().catch(() => undefined);
      // The server notices the closed socket at once, but asynchronously.
      await waitFor("the stream to be released", async () => true, { intervalMs: 20 });
    }
    const still = await waitFor("a free stream", async () => {
      const response = await fetch(`${server.url}/console/api/decisions/stream`, { headers: { authorization: `Bearer ${tokens.ops1}` } });
      await response.body?.cancel();
      return response.status === 200 ? true : undefined;
    });
    assert.equal(still, true);
  });

  test("no page error and no CSP violation in any of the above", () => {
    assert.deepEqual(problems, []);
  });
});
