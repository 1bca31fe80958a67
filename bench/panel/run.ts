/**
 * bench/panel: what the panel costs a browser on first load.
 *
 * (a) Initial transfer: the JS and CSS `index.html` references, raw and gzip-compressed
 *     (zlib level 9, what a compressing proxy in front of the coordinator sends), in KiB.
 * (b) Time to interactive of the admin dashboard in headless Chromium on loopback: from
 *     navigation start (`performance.now()` origin) to the dashboard showing the API's figures
 *     with the live socket connected, over PANEL_RUNS cold page loads (default 10, a fresh
 *     browser context each, so nothing is cached), signed in by cookie beforehand.
 *
 * Prints figures; never passes or fails on them. Needs the panel built (`npm run build -w panel`)
 * and /usr/bin/chromium. Run: `source install/env.sh && npx tsx bench/panel/run.ts`.
 */
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { startTestCoordinator } from "../../coordinator/test/support/harness";
import { summarize } from "../dispatch/stats";

const RUNS = Number(process.env.PANEL_RUNS ?? 10);
const kib = (bytes: number): string => (bytes / 1024).toFixed(1);

/** Runs in the page before its scripts: stamps `performance.now()` on the DOM change that completes the dashboard (figures loaded, socket live), so polling from here adds no skew. */
const STAMP_INTERACTIVE = `new MutationObserver((changes, observer) => {
  const figure = document.querySelector("[data-figure='Active tenants'] .figure-value")?.textContent;
  if (figure && figure !== "…" && document.querySelector("[data-live=live]")) {
    window.panelInteractiveAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });`;

const t = await startTestCoordinator();
const base = t.coordinator.httpUrl;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const html = await (await fetch(`${base}/`)).text();
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1] ?? "");
  let raw = 0;
  let gzip = 0;
  for (const asset of assets) {
    const body = Buffer.from(await (await fetch(`${base}${asset}`)).arrayBuffer());
    const packed = gzipSync(body, { level: 9 }).length;
    raw += body.length;
    gzip += packed;
    console.log(`${asset}: ${kib(body.length)} KiB raw, ${kib(packed)} KiB gzip`);
  }
  console.log(`initial JS+CSS: ${kib(raw)} KiB raw, ${kib(gzip)} KiB gzip (${assets.length} files; index.html ${kib(Buffer.byteLength(html))} KiB)`);

  const login = await fetch(`${base}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "root@example.test", password: t.adminPassword }) });
  const cookies = login.headers.getSetCookie().map((c) => {
    const [name = "", value = ""] = (c.split(";")[0] ?? "").split("=");
    return { name, value, url: base };
  });
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.addCookies(cookies);
    const page = await context.newPage();
    await page.addInitScript({ content: STAMP_INTERACTIVE });
    await page.goto(`${base}/admin`);
    await page.waitForFunction(() => "panelInteractiveAt" in globalThis);
    samples.push(await page.evaluate(() => (globalThis as unknown as { panelInteractiveAt: number }).panelInteractiveAt));
    await context.close();
  }
  const s = summarize(samples);
  console.log(`dashboard time to interactive (cold, loopback): p50 ${s.p50.toFixed(0)} ms, p90 ${s.p90.toFixed(0)} ms, max ${s.max.toFixed(0)} ms (n=${s.count})`);
} finally {
  await browser.close();
  await t.stop();
}
