import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { generate } from "otplib";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "../src/auth/users";
import { PANEL_DIST } from "../src/panel/routes";
import { createPlan, deliver, paidCheckout, startBillingRig, type BillingRig } from "./support/billing-fixtures";
import type { TestCoordinator } from "./support/harness";
import { DESKTOP, launchPanelBrowser, PHONE, SCREENSHOTS, type PanelBrowser } from "./support/panel-browser";

const MINUTE = 60_000;

/** A TOTP code for `secret` at `offsetS` seconds from now (RFC 6238, 30 s steps). */
const codeAt = (secret: string, offsetS = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetS });

describe("panel admin pages in a real browser: 2FA login, account, billing, audit, impersonation, field errors", () => {
  let rig: BillingRig;
  let t: TestCoordinator;
  let chromium: PanelBrowser;
  let base: string;
  const mfaAdmin = { email: "mfa-admin@example.test", password: "", secret: "" };
  const acme = { id: "", email: "owner@acme-admin.test", password: "", domainId: "" };
  const shop = { tenantId: "", openInvoiceId: "" };

  const newPage = () => chromium.newPage();
  const signIn = (page: Page, email: string, password: string, next?: string) => chromium.signIn(page, base, email, password, next);

  /** Screenshots of the current page at desktop and phone widths (`<name>-desktop.png`, `<name>-phone.png`). */
  async function shots(page: Page, name: string): Promise<void> {
    await page.setViewportSize(DESKTOP);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }

  const api = (method: string, url: string, body?: unknown, token?: string) => t.api(method, url, body, token);
  const bearerLogin = async (email: string, password: string): Promise<string> =>
    String((await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email, password } })).json<{ data: { token: string } }>().data.token);

  beforeAll(async () => {
    if (!existsSync(join(PANEL_DIST, "index.html"))) throw new Error("the panel is not built: run `npm run build -w panel` (install/test.sh does)");
    await mkdir(SCREENSHOTS, { recursive: true });
    rig = await startBillingRig({ MPANEL_LOGIN_RATE_MAX: "1000" });
    t = rig.t;
    base = t.coordinator.httpUrl;

    // A staff member with TOTP on (enrolled over the API), for the 2FA login.
    mfaAdmin.password = (await createUser(t.coordinator.database.db, { email: mfaAdmin.email, name: "Mfa Admin", platformRole: "SUPER_ADMIN" })).password;
    const token = await bearerLogin(mfaAdmin.email, mfaAdmin.password);
    const enroll = await api("POST", "/api/auth/totp/enroll", {}, token);
    expect(enroll.status, JSON.stringify(enroll.body)).toBe(200);
    mfaAdmin.secret = String(enroll.body.data?.secret);
    expect((await api("POST", "/api/auth/totp/confirm", { code: await codeAt(mfaAdmin.secret) }, token)).status).toBe(200);

    // Nodes for placement (no agent: their jobs stay queued, which these pages do not need).
    await t.coordinator.database.db.prisma.server.createMany({ data: [
      { hostname: "web-admin-test", roles: ["web"], status: "online", publicIpv4: "203.0.113.20" },
      { hostname: "dns-admin-test", roles: ["dns"], status: "online" },
    ] });

    // A tenant with an owner and a hosted zone.
    const created = await api("POST", "/api/admin/tenants", { name: "Acme Admin", owner: { email: acme.email, name: "Ann Acme" } });
    acme.id = (created.body.data?.tenant as { id: string }).id;
    acme.password = (created.body.data?.owner as { oneTimePassword: string }).oneTimePassword;
    const domain = await api("POST", "/api/admin/domains", { tenantId: acme.id, name: "acme-admin.example.com", dns: true });
    expect(domain.status, JSON.stringify(domain.body)).toBe(202);
    acme.domainId = (domain.body.data?.domain as { id: string }).id;
    expect((await api("POST", `/api/admin/domains/${acme.domainId}/records`, { name: "www", type: "A", content: "192.0.2.10" })).status).toBe(202);

    // A paid checkout (INV-000001, paid by card), then a renewal a period later (INV-000002, open).
    await createPlan(t, "basic", 500);
    const { payload } = await paidCheckout(rig, { planCode: "basic", billingCycle: "month", email: "buyer@shop-admin.test", domain: "shop-admin.example.org" });
    expect((await deliver(rig, payload)).status).toBe(200);
    const sub = await t.coordinator.database.db.prisma.billingSubscription.findFirstOrThrow();
    shop.tenantId = sub.tenantId;
    const renewal = await t.coordinator.billing.runRenewals(new Date(sub.currentPeriodEnd.getTime() + MINUTE));
    shop.openInvoiceId = renewal.invoiceIds[0] ?? "";

    chromium = await launchPanelBrowser();
  });
  afterAll(async () => {
    await chromium?.close();
    await rig?.stop();
  });

  it("signs in with a TOTP second factor; a wrong code shows beside the code field", async () => {
    const page = await newPage();
    await page.goto(`${base}/admin/audit`);
    await page.getByLabel("Email").fill(mfaAdmin.email);
    await page.getByLabel("Password").fill(mfaAdmin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    const code = page.getByLabel("Authentication code");
    await code.fill(await codeAt(mfaAdmin.secret, -3600));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.locator(".field-error[data-field=code]").waitFor();
    expect(await code.getAttribute("aria-invalid")).toBe("true");
    expect(page.url()).toContain("/login");

    await code.fill(await codeAt(mfaAdmin.secret, 30));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.waitForURL(`${base}/admin/audit`);
    await page.locator("[data-live=live]").waitFor();
    const failed = await api("GET", `/api/admin/audit?action=MFA_FAILED`);
    expect(failed.body.meta?.total).toBe(1);
  });

  it("enrols TOTP from the account page, shows the recovery codes once, and refuses a wrong current password beside its field", async () => {
    const page = await newPage();
    await signIn(page, acme.email, acme.password, "/client/account");
    await page.getByRole("heading", { name: "Account security" }).waitFor();
    await page.locator("[data-session]").first().waitFor();
    await shots(page, "account");

    await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
    const secret = (await page.locator("[data-totp-secret]").textContent()) ?? "";
    expect(await page.locator("[data-otpauth-uri]").textContent()).toContain(`secret=${secret}`);
    await page.getByLabel("Code from the app").fill(await codeAt(secret));
    await page.getByRole("button", { name: "Turn on" }).click();
    await page.locator("[data-recovery-code]").first().waitFor();
    expect(await page.locator("[data-recovery-code]").count()).toBeGreaterThanOrEqual(8);
    expect((await api("GET", `/api/admin/audit?action=MFA_ENABLED&actorEmail=${acme.email}`)).body.meta?.total).toBe(1);
    const user = await t.coordinator.database.db.prisma.user.findUniqueOrThrow({ where: { email: acme.email } });
    expect(user.totpEnabledAt).not.toBeNull();

    const form = page.getByRole("form", { name: "Change password" });
    await form.getByLabel("Current password").fill("not-my-password");
    await form.getByLabel("New password", { exact: true }).fill("a-brand-new-password-1");
    await form.getByLabel("Repeat the new password").fill("a-brand-new-password-1");
    await form.getByRole("button", { name: "Change password" }).click();
    await form.locator(".field-error[data-field=currentPassword]").waitFor();
    expect((await t.coordinator.database.db.prisma.user.findUniqueOrThrow({ where: { email: acme.email } })).passwordHash).toBe(user.passwordHash);
  });

  it("shows the API's field errors beside the field on the tenant, DNS record and database forms, creating nothing", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, "/admin/tenants");
    const tenantsBefore = (await api("GET", "/api/admin/tenants")).body.meta?.total;
    await page.getByText("New tenant", { exact: true }).click();
    const tenantForm = page.getByRole("form", { name: "New tenant" });
    await tenantForm.getByLabel("Name", { exact: true }).fill("Broken Slug Co");
    await tenantForm.getByLabel("Slug (optional)").fill("Bad Slug!");
    await tenantForm.getByRole("button", { name: "Create tenant" }).click();
    await tenantForm.locator(".field-error[data-field=slug]").waitFor();
    expect(await tenantForm.getByLabel("Slug (optional)").getAttribute("aria-invalid")).toBe("true");
    expect((await api("GET", "/api/admin/tenants")).body.meta?.total).toBe(tenantsBefore);

    await page.goto(`${base}/admin/domains/${acme.domainId}`);
    const recordForm = page.getByRole("form", { name: "Add a DNS record" });
    await recordForm.getByLabel("Name").fill("api");
    await recordForm.getByLabel("Content").fill("not-an-address");
    await recordForm.getByRole("button", { name: "Add record" }).click();
    await recordForm.locator(".field-error[data-field=content]").waitFor();
    const records = (await api("GET", `/api/admin/domains/${acme.domainId}/records`)).body.data as unknown as Array<{ name: string }>;
    expect(records.some((r) => r.name.startsWith("api"))).toBe(false);

    await page.goto(`${base}/admin/databases`);
    await page.getByText("New database", { exact: true }).click();
    const dbForm = page.getByRole("form", { name: "New database" });
    await dbForm.getByLabel("Tenant").selectOption(acme.id);
    await dbForm.getByLabel("Name").fill("bad name!");
    await dbForm.getByRole("button", { name: /create/i }).click();
    await dbForm.locator(".field-error[data-field=name]").waitFor();
    expect((await api("GET", "/api/admin/hosting/databases")).body.meta?.total).toBe(0);
  });

  it("asks before deleting a DNS record and before revoking an API key; Cancel changes nothing", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, `/admin/domains/${acme.domainId}`);
    const row = page.locator("tr", { hasText: "192.0.2.10" });
    await row.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: /Delete A www/ });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    const records = (await api("GET", `/api/admin/domains/${acme.domainId}/records`)).body.data as unknown as Array<{ content: string }>;
    expect(records.some((r) => r.content === "192.0.2.10")).toBe(true);

    await page.getByRole("link", { name: "API keys", exact: true }).click();
    await page.getByText("New API key", { exact: true }).click();
    const keyForm = page.getByRole("form", { name: "New API key" });
    await keyForm.getByLabel("Name").fill("deploy");
    await keyForm.getByRole("button", { name: "Create key" }).click();
    await keyForm.locator(".field-error[data-field=scopes]").waitFor();
    await keyForm.getByLabel("domains").check();
    await keyForm.getByRole("button", { name: "Create key" }).click();
    const token = (await page.locator("[data-secret]").textContent()) ?? "";
    expect(token).toMatch(/^mpk_/);
    expect((await api("GET", "/api/admin/domains", undefined, token)).status).toBe(200);
    const keyRow = page.locator("tr[data-api-key=deploy]");
    await keyRow.locator("[data-status=active]").waitFor();
    await shots(page, "api-keys");

    await keyRow.getByRole("button", { name: "Revoke" }).click();
    const ask = page.getByRole("dialog", { name: "Revoke deploy?" });
    await ask.getByRole("button", { name: "Cancel" }).click();
    await ask.waitFor({ state: "hidden" });
    expect((await api("GET", "/api/admin/domains", undefined, token)).status).toBe(200);
    await keyRow.getByRole("button", { name: "Revoke" }).click();
    await ask.getByRole("button", { name: "Revoke key" }).click();
    await keyRow.locator("[data-status=revoked]").waitFor();
    expect((await api("GET", "/api/admin/domains", undefined, token)).status).toBe(401);
  });

  it("lists invoices with their PDFs, filters them, and records a bank transfer (field error first)", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, "/admin/invoices");
    await page.locator("tr[data-invoice='INV-000001'] [data-status=paid]").waitFor();
    await page.locator("tr[data-invoice='INV-000002'] [data-status=open]").waitFor();
    await shots(page, "invoices");
    await page.getByLabel("Status").selectOption("open");
    await expect.poll(() => page.locator("tr[data-invoice]").count()).toBe(1);
    expect(page.url()).toContain("status=open");

    const pdf = await page.request.get(`${base}${await page.locator("tr[data-invoice='INV-000002'] a", { hasText: "PDF" }).getAttribute("href")}`);
    expect(pdf.status()).toBe(200);
    expect(pdf.headers()["content-type"]).toBe("application/pdf");
    expect((await pdf.body()).subarray(0, 5).toString()).toBe("%PDF-");

    await page.getByRole("link", { name: "INV-000002" }).click();
    await page.getByRole("heading", { name: "Invoice INV-000002" }).waitFor();
    const form = page.getByRole("form", { name: "Record a payment" });
    await form.getByLabel("Amount (EUR)").fill("50.00");
    await form.getByLabel("Bank reference").fill("SEPA 2026-11-23");
    await form.getByRole("button", { name: "Record payment" }).click();
    await form.locator(".field-error[data-field=amountMinor]").waitFor();
    expect((await api("GET", `/api/admin/billing/invoices/${shop.openInvoiceId}`)).body.data?.status).toBe("open");
    await form.getByLabel("Amount (EUR)").fill("5.00");
    await form.getByRole("button", { name: "Record payment" }).click();
    await page.locator(".page-header [data-status=paid]").waitFor();
    expect((await api("GET", `/api/admin/billing/invoices/${shop.openInvoiceId}`)).body.data).toMatchObject({ status: "paid", paidMinor: 500 });
    await shots(page, "invoice");

    await page.getByRole("link", { name: "Products", exact: true }).click();
    await page.locator("tr[data-product=basic]").waitFor();
    await shots(page, "products");
    await page.getByRole("link", { name: "Subscriptions", exact: true }).click();
    await page.locator("tr[data-subscription]").first().waitFor();
    await shots(page, "subscriptions");
  });

  it("filters the audit log by action, actor and tenant", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, "/admin/audit");
    await page.locator("tr[data-audit]").first().waitFor();
    const form = page.getByRole("search", { name: "Filter audit events" });
    await form.getByLabel("Action").fill("invoice_paid");
    await form.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/action=INVOICE_PAID/);
    const paid = (await api("GET", "/api/admin/audit?action=INVOICE_PAID")).body.meta?.total ?? 0;
    expect(paid).toBe(2);
    await expect.poll(() => page.locator("tr[data-audit]").count()).toBe(paid);
    expect(await page.locator("tr[data-audit]:not([data-audit=INVOICE_PAID])").count()).toBe(0);

    await form.getByLabel("Actor email").fill("root@example.test");
    await form.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => page.locator("tr[data-audit]").count()).toBe(1);
    expect(await page.locator("tr[data-audit]").first().textContent()).toContain("root@example.test");

    await form.getByLabel("Action").fill("");
    await form.getByLabel("Actor email").fill("");
    await form.getByRole("button", { name: "Filter" }).click();
    await form.getByLabel("Tenant").selectOption(acme.id);
    const ofAcme = (await api("GET", `/api/admin/audit?tenantId=${acme.id}&pageSize=50`)).body.meta?.total ?? 0;
    await expect.poll(() => page.locator("tr[data-audit]").count()).toBe(Math.min(ofAcme, 50));
    expect(await page.locator("tr[data-audit=TENANT_CREATED]").count()).toBe(1);
    await shots(page, "audit");

    await page.getByRole("link", { name: "Users", exact: true }).click();
    await page.locator(`tr[data-user='${acme.email}']`).waitFor();
    await shots(page, "users");
  });

  it("impersonates a tenant owner under a banner, shows the tenant's invoices with how to pay, and audits it", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, `/admin/tenants/${shop.tenantId}`);
    await page.getByRole("button", { name: "Impersonate owner" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Impersonate owner" }).click();
    await page.waitForURL(`${base}/client`);
    await page.locator("[data-impersonating]").waitFor();
    await page.getByRole("link", { name: "Invoices", exact: true }).click();
    await page.locator("tr[data-invoice='INV-000001']").waitFor();
    expect(await page.locator("tr[data-invoice]").count()).toBe(2);
    await shots(page, "client-invoices");
    const started = (await api("GET", `/api/admin/audit?action=IMPERSONATION_STARTED&tenantId=${shop.tenantId}`)).body.data as unknown as Array<{ actor: { email: string } }>;
    expect(started.map((e) => e.actor.email)).toEqual(["root@example.test"]);

    await page.getByRole("button", { name: "End impersonation" }).click();
    await page.waitForURL(/\/login/);
  });

  it("returns to the login page, keeping the place, when the session ends", async () => {
    const page = await newPage();
    await signIn(page, "root@example.test", t.adminPassword, "/admin/users");
    await page.locator("tr[data-user]").first().waitFor();
    const root = await t.coordinator.database.db.prisma.user.findUniqueOrThrow({ where: { email: "root@example.test" } });
    await t.coordinator.database.db.prisma.session.updateMany({ where: { userId: root.id, revokedAt: null, userAgent: { contains: "Chrome" } }, data: { revokedAt: new Date() } });
    await page.getByRole("link", { name: "Audit log", exact: true }).click();
    await page.waitForURL(`${base}/login?next=${encodeURIComponent("/admin/audit")}`);
    await page.getByText("Your session has ended").waitFor();
  });
});
