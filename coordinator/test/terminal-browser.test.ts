import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { hashSecret } from "../src/auth/tokens";
import { SESSION_COOKIE } from "../src/http/auth-hook";
import { PANEL_DIST } from "../src/panel/routes";
import { prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";

describe("web terminal in a real browser", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let browser: Browser;
  let podId: string;
  let systemUser: string;
  let tenantId: string;
  let owner: { userId: string; email: string; oneTimePassword: string };

  beforeAll(async () => {
    if (!existsSync(join(PANEL_DIST, "index.html"))) throw new Error("the panel is not built: run `npm run build -w panel` (install/test.sh does)");
    t = await startTestCoordinator();
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Shell Co", owner: { email: "owner@shell-co.test", name: "Shell Owner" } });
    tenantId = (tenant.body.data?.tenant as { id: string }).id;
    owner = tenant.body.data?.owner as typeof owner;
    const created = await t.api("POST", "/api/admin/cloudpods", { tenantId, name: "shell" });
    expect(created.status).toBe(202);
    expect((await waitForJob(t, String(created.body.data?.jobId))).status).toBe("succeeded");
    podId = (created.body.data?.pod as { id: string }).id;
    systemUser = (await t.coordinator.database.db.prisma.cloudPod.findUniqueOrThrow({ where: { id: podId } })).systemUser;
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  });
  afterAll(async () => {
    await browser?.close();
    const deleted = podId ? await t.api("DELETE", `/api/admin/cloudpods/${podId}`) : null;
    if (deleted?.body.data?.jobId) await waitForJob(t, String(deleted.body.data.jobId));
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
  });

  it("runs a shell as the CloudPod's user and closes it when the login session is revoked", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${t.coordinator.httpUrl}/admin/cloudpods/${podId}/terminal`);
    await page.getByLabel("Email").fill("root@example.test");
    await page.getByLabel("Password").fill(t.adminPassword);
    await page.getByRole("button", { name: "Sign in" }).click();
    const terminal = page.locator("[data-terminal]");
    await page.locator("[data-terminal][data-state=open]").waitFor();
    await terminal.click();
    await page.keyboard.type("id -un\n");
    const rows = async (): Promise<string[]> => (await page.locator(".xterm-rows > div").allTextContents()).map((r) => r.trim());
    await expect.poll(rows, { timeout: 15_000 }).toContain(systemUser);

    const token = (await context.cookies()).find((c) => c.name === SESSION_COOKIE)?.value ?? "";
    const session = await t.coordinator.database.db.prisma.session.findUniqueOrThrow({ where: { tokenHash: hashSecret(token) } });
    const closed = page.locator("[data-terminal][data-state=closed]").waitFor({ timeout: 5000 });
    expect((await t.api("DELETE", `/api/auth/sessions/${session.id}`)).status).toBe(200);
    await closed;
    await expect.poll(() => page.locator("[data-terminal-state]").textContent()).toContain("login session ended");

    const audited = () => t.coordinator.database.db.prisma.auditEvent.findFirst({ where: { action: "TERMINAL_SESSION", targetId: podId } });
    await expect.poll(audited).not.toBeNull();
    const event = await audited();
    expect(event?.actorUserId).toBe(session.userId);
    expect(event?.data).toMatchObject({ systemUser, reason: "the login session ended" });
    expect(typeof (event?.data as { durationMs?: unknown }).durationMs).toBe("number");
    await context.close();
  });

  it("closes the tenant owner's terminal when the member's role loses terminal:open", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${t.coordinator.httpUrl}/client/cloudpods/${podId}/terminal`);
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Password").fill(owner.oneTimePassword);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("[data-terminal][data-state=open]").waitFor();

    const prisma = t.coordinator.database.db.prisma;
    const readOnly = await prisma.role.findFirstOrThrow({ where: { name: "TENANT_USER", tenantId: null } });
    const closed = page.locator("[data-terminal][data-state=closed]").waitFor({ timeout: 5000 });
    await prisma.tenantUser.update({ where: { tenantId_userId: { tenantId, userId: owner.userId } }, data: { roleId: readOnly.id } });
    await closed;
    await expect.poll(() => page.locator("[data-terminal-state]").textContent()).toContain("terminal:open revoked");
    await context.close();
  });
});
