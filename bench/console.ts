/**
 * The console (GET /console), in Debian's Chromium driven by playwright-core, against the
 * control plane on its embedded defaults (anchoring off), all on loopback:
 *   first paint   first contentful paint of /console and the moment the sign-in field
 *                 has focus (the entry module ran): the first load after the server
 *                 started (which prepares the browser modules: type stripping), then the
 *                 median of 7 loads, each in a fresh browser context (no cache)
 *   live stream   the operator's decision stream while POST /actions (quote.read, allowed)
 *                 runs at a fixed 1,000 requests/s, open loop, for ZT_BENCH_SECONDS (default
 *                 10): decisions the page received per second, the longest gap between
 *                 frames and the long tasks (> 50 ms) the page had, the row elements it
 *                 kept, and how long after the last answer the page had counted every
 *                 decision
 * The frame and long-task figures come from a recorder the benchmark adds to the page
 * (requestAnimationFrame deltas and a PerformanceObserver); the page is not changed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { paced } from "./pacedLoad.ts";
import { controlPlane } from "./processes.ts";
import { finishSection, median, type BenchRow } from "./report.ts";

const CHROMIUM = "/usr/bin/chromium";
const SECONDS = Number(process.env["ZT_BENCH_SECONDS"] ?? 10);
const RATE = 1000;
const LOADS = 7;

interface PaintTimes {
  readonly fcp: number;
  readonly ready: number;
}

async function firstPaint(browser: Browser, url: string): Promise<PaintTimes> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  try {
    const page = await context.newPage();
    await page.goto(`${url}/console`);
    await page.waitForFunction(() => document.activeElement?.id === "token");
    return await page.evaluate(() => {
      const fcp = performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? Number.NaN;
      return { fcp, ready: performance.now() };
    });
  } finally {
    await context.close();
  }
}

/** What the page's counter line says it received. */
async function received(page: Page): Promise<number> {
  const text = (await page.locator("#stream-count").textContent()) ?? "";
  return Number(/([\d,]+) received/.exec(text)?.[1]?.replaceAll(",", "") ?? 0);
}

const dataDir = mkdtempSync(join(tmpdir(), "zt-bench-console-"));
const server = await controlPlane(dataDir);
const browser = await chromium.launch({ executablePath: CHROMIUM });
const rows: BenchRow[] = [];
try {
  const cold = await firstPaint(browser, server.url);
  const warm: PaintTimes[] = [];
  for (let i = 0; i < LOADS; i++) warm.push(await firstPaint(browser, server.url));
  rows.push(
    { name: "console first contentful paint, first load after start", value: cold.fcp, unit: "ms", note: "prepares the browser modules" },
    { name: "console ready to sign in, first load after start", value: cold.ready, unit: "ms" },
    { name: `console first contentful paint (median of ${LOADS})`, value: median(warm.map((t) => t.fcp)), unit: "ms", note: "fresh context, no cache; target < 1,000 ms" },
    { name: `console ready to sign in (median of ${LOADS})`, value: median(warm.map((t) => t.ready)), unit: "ms", note: "entry module run, field focused" },
  );

  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  await page.addInitScript(() => {
    const record = { frames: [] as number[], longTasks: [] as number[], recording: false };
    (globalThis as any).__ztBench = record;
    let last = performance.now();
    const frame = (now: number) => {
      if (record.recording) record.frames.push(now - last);
      last = now;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    new PerformanceObserver((list) => {
      if (record.recording) for (const entry of list.getEntries()) record.longTasks.push(entry.duration);
    }).observe({ type: "longtask", buffered: false });
  });
  await page.goto(`${server.url}/console`);
  await page.getByLabel("Bearer token").fill(server.credentials.operator_token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Live", { exact: true }).waitFor();
  const before = await received(page);
  await page.evaluate(() => ((globalThis as any).__ztBench.recording = true));

  const agent = { authorization: `Bearer ${server.credentials.agents["agent:desk-7"]}`, "content-type": "application/json" };
  const body = JSON.stringify({ actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/jupiter" });
  const load = await paced(server.url, agent, () => body, RATE, SECONDS);
  const answered = performance.now();
  const expected = RATE * SECONDS - load.errors;
  let drainMs = Number.NaN;
  for (let waited = 0; waited < 30_000; waited += 50) {
    if ((await received(page)) - before >= expected) {
      drainMs = performance.now() - answered;
      break;
    }
    await page.waitForTimeout(50);
  }
  const got = (await received(page)) - before;
  const recorded = await page.evaluate(() => {
    const record = (globalThis as any).__ztBench;
    record.recording = false;
    return { frames: record.frames as number[], longTasks: record.longTasks as number[] };
  });
  const rowElements = await page.locator("#decision-rows .row").count();
  const frames = [...recorded.frames].sort((a, b) => a - b);
  rows.push(
    { name: "console stream: POST /actions paced (quote.read)", value: load.rps, unit: "req/s", note: `${load.non2xx} non-2xx, ${load.errors} errors` },
    { name: "console stream: decisions the page received", value: got / SECONDS, unit: "decisions/s", note: `${got} of ${expected} answered` },
    { name: "console stream: every decision counted in the page", value: drainMs, unit: "ms", note: "after the last answer" },
    { name: "console stream: longest gap between frames", value: frames.at(-1) ?? Number.NaN, unit: "ms", note: `${frames.length} frames; 60 Hz is 16.7 ms` },
    { name: "console stream: frame interval p99", value: frames[Math.max(0, Math.ceil(frames.length * 0.99) - 1)] ?? Number.NaN, unit: "ms" },
    { name: "console stream: long tasks (> 50 ms)", value: recorded.longTasks.length, unit: "tasks", note: `${Math.round(recorded.longTasks.reduce((a, b) => a + b, 0))} ms in all` },
    { name: "console stream: row elements in the DOM", value: rowElements, unit: "rows", note: "virtualised list" },
  );
  await context.close();
} finally {
  await browser.close();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

finishSection({
  section: "console",
  method: `Debian's Chromium (${CHROMIUM}) via playwright-core on loopback; first paint: first-contentful-paint and sign-in field focus of GET /console, the first load after start and the median of ${LOADS} fresh contexts; live: the operator's stream while POST /actions quote.read runs at ${RATE} req/s open loop for ${SECONDS} s (frame gaps by requestAnimationFrame, long tasks by PerformanceObserver)`,
  rows,
});
