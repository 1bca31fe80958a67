import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { PANEL_DIST } from "../src/panel/routes";
import { prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";
import { launchPanelBrowser, type PanelBrowser } from "./support/panel-browser";

const domain = "ops-panel.test";

/** The panel's backups, a site's uptime checks and the alerts, in real Chromium against a real node (nginx, restic). */
describe("panel: backups, uptime and alerts", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let browser: PanelBrowser;
  let page: Page;
  let dir: string;
  let websiteId: string;
  let podId: string;
  let docroot: string;

  beforeAll(async () => {
    if (!existsSync(join(PANEL_DIST, "index.html"))) throw new Error("the panel is not built: run `npm run build -w panel` (install/test.sh does)");
    t = await startTestCoordinator({ MPANEL_UPTIME_RESOLVE: `${domain}=127.0.0.1`, MPANEL_UPTIME_RUN_MS: "3600000" });
    dir = await mkdtemp(join(tmpdir(), "mpanel-ops-panel-"));
    await writeFile(join(dir, "restic-password"), randomBytes(24).toString("base64"), { mode: 0o600 });
    node = await prepareWebNode(t, { backup: { repository: join(dir, "repo"), passwordFile: join(dir, "restic-password"), cacheDir: join(dir, "cache") } });
    agent = await startTestAgent(t, node);
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Ops Customer" });
    const tenantId = String((tenant.body.data?.tenant as { id: string }).id);
    const site = await t.api("POST", "/api/admin/websites", { tenantId, domain });
    expect((await waitForJob(t, String(site.body.data?.jobId))).status).toBe("succeeded");
    websiteId = (site.body.data?.website as { id: string }).id;
    podId = (site.body.data?.website as { cloudPodId: string }).cloudPodId;
    const pod = await t.api("GET", `/api/admin/hosting/cloudpods/${podId}`);
    docroot = join(node.config.podsRoot, String(pod.body.data?.systemUser), "sites", domain, "public");
    browser = await launchPanelBrowser();
    page = await browser.newPage();
    await browser.signIn(page, t.coordinator.httpUrl, "root@example.test", t.adminPassword, "/admin");
  });
  afterAll(async () => {
    await browser?.close();
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("sets a backup policy, backs up now, and restores the files after asking", async () => {
    await page.goto(`${t.coordinator.httpUrl}/admin/backups?cloudPodId=${podId}`);
    await page.getByText("This CloudPod has no backup policy yet").waitFor();
    const policy = page.getByRole("form", { name: "Backup policy" });
    await policy.getByLabel("Every (hours)").fill("0");
    await policy.getByRole("button", { name: "Save policy" }).click();
    await page.locator("[data-field=frequencyHours]").waitFor();
    await policy.getByLabel("Every (hours)").fill("12");
    await policy.getByRole("button", { name: "Save policy" }).click();
    await expect.poll(async () => (await t.api("GET", `/api/admin/hosting/cloudpods/${podId}/backup-policy`)).body.data?.frequencyHours).toBe(12);

    await writeFile(join(docroot, "index.html"), "<h1>the good version</h1>\n");
    await page.locator("[data-policy]").waitFor();
    expect(await page.locator("[data-policy]").textContent()).toMatch(/Backed up every 12 h/);
    await page.getByRole("button", { name: /^Back up .* now$/ }).click();
    await page.waitForURL(/\/admin\/jobs\//);
    const jobId = page.url().split("/").at(-1) ?? "";
    expect((await waitForJob(t, jobId, ["succeeded", "failed"], 60_000)).status).toBe("succeeded");

    await writeFile(join(docroot, "index.html"), "<h1>damaged</h1>\n");
    await page.goto(`${t.coordinator.httpUrl}/admin/backups?cloudPodId=${podId}`);
    const row = page.locator("tr[data-backup]").filter({ hasText: "succeeded" }).first();
    await row.getByRole("button", { name: "Restore" }).click();
    const ask = page.getByRole("dialog", { name: "Restore this files backup?" });
    await expect.poll(() => ask.textContent()).toMatch(/Changes made since then are lost/);
    await ask.getByRole("button", { name: "Restore backup" }).click();
    await page.waitForURL(/\/admin\/jobs\//);
    const restoreJob = page.url().split("/").at(-1) ?? "";
    expect((await waitForJob(t, restoreJob, ["succeeded", "failed"], 60_000)).status).toBe("succeeded");
    expect(await readFile(join(docroot, "index.html"), "utf8")).toBe("<h1>the good version</h1>\n");
    await page.goto(`${t.coordinator.httpUrl}/admin/backups?cloudPodId=${podId}`);
    await page.locator("tr[data-backup]").first().waitFor();
    await browser.shot(page, "backups-desktop");
  });

  it("adds an uptime check on the site page and shows its probes; a down site is an alert on the dashboard", async () => {
    await page.goto(`${t.coordinator.httpUrl}/admin/sites/${websiteId}`);
    const form = page.getByRole("form", { name: "Add an uptime check" });
    await form.getByLabel("Path").fill("no-slash");
    await form.getByRole("button", { name: "Add check" }).click();
    await page.locator("[data-field=path]").waitFor();
    await form.getByLabel("Scheme").selectOption("http");
    await form.getByLabel("Port").fill(String(node.nginx.port));
    await form.getByLabel("Path").fill("/");
    await form.getByRole("button", { name: "Add check" }).click();
    const check = page.locator("[data-uptime-check]");
    await check.waitFor();
    await expect.poll(() => check.textContent()).toContain(`http://${domain}:${node.nginx.port}/`);

    await t.coordinator.uptime.runDue();
    await page.reload();
    await expect.poll(() => page.locator("[data-uptime-summary]").textContent()).toMatch(/100% up over 1 probe;/);
    await browser.shot(page, "site-uptime-desktop");

    await page.goto(`${t.coordinator.httpUrl}/admin`);
    await page.locator("[data-alerts=none]").waitFor();
    await unlink(join(docroot, "index.html"));
    const later = (s: number) => new Date(Date.now() + s * 1000);
    await t.coordinator.uptime.runDue(later(61));
    await t.coordinator.uptime.runDue(later(122));
    await page.reload();
    const alert = page.locator("[data-alert=site_down]");
    await alert.waitFor();
    expect(await alert.textContent()).toContain(domain);
    await browser.shot(page, "dashboard-alerts-desktop");
  });
});
