import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { PANEL_DIST } from "../src/panel/routes";
import { eventually, fetchSite, prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";
import { launchPanelBrowser, PHONE, SCREENSHOTS, type PanelBrowser } from "./support/panel-browser";

describe("panel in a real browser: admin and tenant flows against a live coordinator, agent and nginx", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let chromium: PanelBrowser;
  let base: string;
  const tenant = { id: "", email: "owner@acme-browser.test", password: "" };
  const other = { id: "", websiteId: "", jobId: "" };
  const newPage = () => chromium.newPage();
  const signIn = (page: Page, email: string, password: string, next?: string) => chromium.signIn(page, base, email, password, next);
  const shot = (page: Page, name: string) => chromium.shot(page, name);

  beforeAll(async () => {
    if (!existsSync(join(PANEL_DIST, "index.html"))) throw new Error("the panel is not built: run `npm run build -w panel` (install/test.sh does)");
    await mkdir(SCREENSHOTS, { recursive: true });
    t = await startTestCoordinator();
    base = t.coordinator.httpUrl;
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
    chromium = await launchPanelBrowser();
    // Another tenant with a live site: the tenant user must never see it.
    const b = await t.api("POST", "/api/admin/tenants", { name: "Other Co" });
    other.id = String((b.body.data?.tenant as { id: string }).id);
    const site = await t.api("POST", "/api/admin/websites", { tenantId: other.id, domain: "other-co.example.com" });
    other.websiteId = (site.body.data?.website as { id: string }).id;
    other.jobId = String(site.body.data?.jobId);
    expect((await waitForJob(t, other.jobId)).status).toBe("succeeded");
  });
  afterAll(async () => {
    await chromium?.close();
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
  });

  it("signs the admin in, shows real figures, and creates a tenant with its owner", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, "/admin");
    await expect.poll(() => page.url()).toBe(`${base}/admin`);
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await expect.poll(() => page.locator("[data-figure='Servers online'] .figure-value").textContent()).toBe("1 / 1");
    await expect.poll(() => page.locator("[data-figure='Active tenants'] .figure-value").textContent()).toBe("1");
    await page.locator("[data-job]").first().waitFor();
    await shot(page, "dashboard-desktop");

    await page.getByRole("link", { name: "Tenants", exact: true }).click();
    await page.getByText("New tenant", { exact: true }).click();
    await page.getByLabel("Name", { exact: true }).fill("Acme Browser");
    await page.getByLabel("Owner email (optional)").fill(tenant.email);
    await page.getByLabel("Owner name").fill("Alice Acme");
    await page.getByRole("button", { name: "Create tenant" }).click();
    tenant.password = (await page.locator("[data-secret]").textContent()) ?? "";
    expect(tenant.password.length).toBeGreaterThan(8);
    await page.locator("tr[data-tenant^='acme-browser']").waitFor();
    const listed = await t.api("GET", "/api/admin/tenants?q=acme");
    tenant.id = String((listed.body.data as unknown as Array<{ id: string }>)[0]?.id);
  });

  it("shows the API's field error next to the field and creates nothing", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, "/admin/sites");
    await page.getByText("Add a website", { exact: true }).click();
    const form = page.getByRole("form", { name: "Add a website" });
    await form.getByLabel("Tenant").selectOption(tenant.id);
    await form.getByLabel("Domain").fill("not a domain!");
    await form.getByRole("button", { name: "Create website" }).click();
    const error = form.locator(".field-error[data-field=domain]");
    await error.waitFor();
    expect((await error.textContent())?.length).toBeGreaterThan(0);
    expect(await form.getByLabel("Domain").getAttribute("aria-invalid")).toBe("true");
    expect(await form.getByLabel("Domain").getAttribute("aria-describedby")).toMatch(/-domain-error$/);
    expect((await t.api("GET", `/api/admin/websites?tenantId=${tenant.id}`)).body.meta?.total).toBe(0);
  });

  it("creates a website and watches its job turn succeeded live, without reloading; nginx serves the site", async () => {
    const page = await newPage();
    const socketFrames: string[] = [];
    page.on("websocket", (ws) => ws.on("framereceived", (frame) => socketFrames.push(String(frame.payload))));
    await signIn(page, "root@example.test", t.adminPassword, "/admin/sites");
    const jobReads: string[] = [];
    page.on("request", (request) => {
      if (/\/api\/admin\/jobs\/[0-9a-f-]{36}$/.test(request.url())) jobReads.push(request.url());
    });
    await page.evaluate(() => Object.assign(globalThis, { panelTestMarker: "still here" }));

    await page.getByText("Add a website", { exact: true }).click();
    const form = page.getByRole("form", { name: "Add a website" });
    await form.getByLabel("Tenant").selectOption(tenant.id);
    await form.getByLabel("Domain").fill("browser-shop.example.com");
    await form.getByRole("button", { name: "Create website" }).click();
    await page.waitForURL(/\/admin\/jobs\/[0-9a-f-]{36}$/);
    const jobId = page.url().split("/").pop() ?? "";
    await page.locator("[data-job-status=succeeded]").waitFor({ timeout: 30_000 });

    // The page never reloaded, read the job once, and heard the result over the socket.
    expect(await page.evaluate(() => (globalThis as unknown as { panelTestMarker?: string }).panelTestMarker)).toBe("still here");
    expect(jobReads).toEqual([`${base}/api/admin/jobs/${jobId}`]);
    expect(socketFrames.some((f) => f.includes(jobId) && f.includes('"status":"succeeded"'))).toBe(true);
    expect(await page.locator("ol.log li").count()).toBeGreaterThan(0);

    const site = await fetchSite(node, "browser-shop.example.com");
    expect(site.status).toBe(200);
    expect(site.body).toContain("browser-shop.example.com");

    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await page.locator(`[data-job='${jobId}']`).waitFor();
    await shot(page, "jobs-desktop");
    await page.setViewportSize(PHONE);
    await shot(page, "jobs-phone");
    await page.getByRole("link", { name: "Dashboard", exact: true }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await expect.poll(() => page.locator("[data-figure='Websites'] .figure-value").textContent()).toBe("2");
    await shot(page, "dashboard-phone");
  });

  it("asks before suspending a tenant, and does nothing when cancelled", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, "/admin/tenants");
    const row = page.locator("tr[data-tenant^='other-co']");
    await row.getByRole("button", { name: "Suspend" }).click();
    const dialog = page.getByRole("dialog", { name: "Suspend Other Co?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await t.api("GET", `/api/admin/tenants/${other.id}`)).body.data?.status).toBe("active");

    await row.getByRole("button", { name: "Suspend" }).click();
    await dialog.getByRole("button", { name: "Suspend tenant" }).click();
    await row.locator("[data-status=suspended]").waitFor();
    expect((await t.api("GET", `/api/admin/tenants/${other.id}`)).body.data?.status).toBe("suspended");
    await row.getByRole("button", { name: "Unsuspend" }).click();
    await row.locator("[data-status=active]").waitFor();
    expect((await t.api("GET", `/api/admin/tenants/${other.id}`)).body.data?.status).toBe("active");
  });

  it("shows a tenant user only its own resources; another tenant's ids are not found", async () => {
    const page = await newPage();
    await signIn(page, tenant.email, tenant.password, "/admin");
    await expect.poll(() => page.url()).toBe(`${base}/client`);
    await page.getByRole("link", { name: "Sites", exact: true }).click();
    await page.locator("tr[data-site='browser-shop.example.com']").waitFor();
    expect(await page.locator("tr[data-site]").count()).toBe(1);
    expect(await page.getByText("other-co.example.com").count()).toBe(0);
    expect(await page.getByRole("link", { name: "Tenants", exact: true }).count()).toBe(0);
    await shot(page, "tenant-sites-desktop");
    await page.setViewportSize(PHONE);
    await shot(page, "tenant-sites-phone");

    for (const path of [`/client/sites/${other.websiteId}`, `/client/jobs/${other.jobId}`]) {
      await page.goto(`${base}${path}`);
      await page.getByRole("heading", { name: "Not found" }).waitFor();
      expect(await page.getByText("other-co.example.com").count(), path).toBe(0);
    }
    await page.getByRole("link", { name: "Jobs", exact: true }).click();
    await page.locator("[data-job]").first().waitFor();
    expect(await page.locator(`[data-job='${other.jobId}']`).count()).toBe(0);
  });

  it("pushes a server going offline to the servers page", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, "/admin/servers");
    const row = page.locator(`tr[data-server='${agent.nodeId}']`);
    await row.locator("[data-status=online]").waitFor();
    await agent.stop(2000);
    await row.locator("[data-status=offline]").waitFor({ timeout: 30_000 });
    await eventually("offline in the API", async () => (await t.api("GET", `/api/admin/servers/${agent.nodeId}`)).body.data?.status === "offline");
  });
});
