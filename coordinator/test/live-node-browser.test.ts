import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { PANEL_DIST } from "../src/panel/routes";
import { eventually, prepareWebNode, startTestAgent, startTestCoordinator, type TestCoordinator, type TestWebNode } from "./support/harness";

describe("live from the node in a real browser", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let browser: Browser;
  let serverId: string;

  async function signedIn(email: string, password: string, next: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${t.coordinator.httpUrl}${next}`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("[data-live=live]").waitFor();
    return page;
  }

  beforeAll(async () => {
    if (!existsSync(join(PANEL_DIST, "index.html"))) throw new Error("the panel is not built: run `npm run build -w panel` (install/test.sh does)");
    t = await startTestCoordinator();
    node = await prepareWebNode(t, { metrics: { sampleMs: 250, batchMs: 500 } });
    agent = await startTestAgent(t, node);
    serverId = await eventually("the node online", async () => (await t.coordinator.database.db.prisma.server.findFirst({ where: { status: "online" } }))?.id);
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  });
  afterAll(async () => {
    await browser?.close();
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
  });

  it("draws the node's CPU and memory and adds points as the agent sends them", async () => {
    const page = await signedIn("root@example.test", t.adminPassword, `/admin/servers/${serverId}`);
    const chart = page.locator("[data-chart=node-metrics]");
    await chart.locator("canvas").waitFor();
    const count = async (): Promise<number> => Number(await chart.getAttribute("data-points"));
    await expect.poll(count, { timeout: 15_000 }).toBeGreaterThan(0);
    const before = await count();
    await expect.poll(count, { timeout: 15_000 }).toBeGreaterThan(before);
    await expect.poll(() => page.locator("[data-metric=cpu]").textContent()).toMatch(/^\d+\.\d %$/);
    await expect.poll(() => page.locator("[data-service=nginx]").getAttribute("data-up")).toBe("true");
  });
});
