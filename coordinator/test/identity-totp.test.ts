import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser } from "../src/auth/users";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

/** A TOTP code for `secret` at `offsetS` seconds from now (RFC 6238, 30 s steps). */
const codeAt = (secret: string, offsetS = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetS });

describe("TOTP two-factor login (RFC 6238) with recovery codes and a staff policy", () => {
  let t: TestCoordinator;
  const user = { email: "totp-user@example.test", password: "" };
  let secret = "";
  let recoveryCodes: string[] = [];

  async function post(url: string, body: unknown, token?: string) {
    const res = await t.coordinator.app.inject({ method: "POST", url, payload: body as object, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    return { status: res.statusCode, body: JSON.parse(res.body) as { data?: Record<string, unknown>; error?: string; details?: Array<{ field: string }> }, cookies: res.cookies };
  }
  const login = () => post("/api/auth/login", user);
  const auditCount = (action: string) => t.coordinator.database.db.prisma.auditEvent.count({ where: { action } });

  beforeAll(async () => {
    t = await startTestCoordinator({ MPANEL_MFA_REQUIRED_ROLES: "PLATFORM_ADMIN", MPANEL_LOGIN_RATE_MAX: "1000" });
    user.password = (await createUser(t.coordinator.database.db, { email: user.email, name: "Totp User" })).password;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("enrols: secret + otpauth URI, a wrong code refused, a right one turns TOTP on and shows recovery codes once", async () => {
    const token = String((await login()).body.data?.token);
    const enroll = await post("/api/auth/totp/enroll", {}, token);
    expect(enroll.status).toBe(200);
    secret = String(enroll.body.data?.secret);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(String(enroll.body.data?.otpauthUri));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.searchParams.get("secret")).toBe(secret);
    expect(uri.searchParams.get("issuer")).toBe("mPanel");

    const wrong = await post("/api/auth/totp/confirm", { code: await codeAt(secret, -3600) }, token);
    expect(wrong.status).toBe(400);
    expect(wrong.body.details?.[0]?.field).toBe("code");
    const ok = await post("/api/auth/totp/confirm", { code: await codeAt(secret) }, token);
    expect(ok.status).toBe(200);
    recoveryCodes = ok.body.data?.recoveryCodes as string[];
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    const stored = await t.coordinator.database.db.prisma.recoveryCode.findMany();
    expect(stored.map((r) => r.codeHash)).not.toContain(recoveryCodes[0]);
    expect(await auditCount("MFA_ENABLED")).toBe(1);
    expect((await post("/api/auth/totp/enroll", {}, token)).status).toBe(409);
  });

  it("asks for the code after the password and logs in with it; the same code is refused the second time", async () => {
    const first = await login();
    expect(first.status).toBe(200);
    expect(first.body.data).toMatchObject({ mfaRequired: true });
    expect(first.body.data?.token).toBeUndefined();
    expect(first.cookies).toHaveLength(0);
    // The confirm step used the current time step; the next one is within the accepted drift.
    const code = await codeAt(secret, 30);
    const done = await post("/api/auth/login/totp", { mfaToken: first.body.data?.mfaToken, code });
    expect(done.status).toBe(200);
    const token = String(done.body.data?.token);
    const me = await t.coordinator.app.inject({ method: "GET", url: "/api/auth/me", headers: { authorization: `Bearer ${token}` } });
    expect(me.statusCode).toBe(200);
    // The challenge is single use.
    expect((await post("/api/auth/login/totp", { mfaToken: first.body.data?.mfaToken, code })).status).toBe(401);

    const again = await login();
    const replay = await post("/api/auth/login/totp", { mfaToken: again.body.data?.mfaToken, code });
    expect(replay.status).toBe(401);
    const older = await post("/api/auth/login/totp", { mfaToken: again.body.data?.mfaToken, code: await codeAt(secret) });
    expect(older.status).toBe(401);
  });

  it("refuses a wrong code and a password-less second step, and gives up a challenge after 5 tries", async () => {
    const first = await login();
    const mfaToken = first.body.data?.mfaToken;
    const stale = await codeAt(secret, -3600);
    for (let i = 0; i < 5; i++) expect((await post("/api/auth/login/totp", { mfaToken, code: stale })).status).toBe(401);
    // Even the right recovery code no longer opens this challenge.
    expect((await post("/api/auth/login/totp", { mfaToken, recoveryCode: recoveryCodes[5] })).status).toBe(401);
    expect((await post("/api/auth/login/totp", { mfaToken: `mpm_${"A".repeat(43)}`, code: "123456" })).status).toBe(401);
    expect((await post("/api/auth/login/totp", { mfaToken, code: "12345x" })).status).toBe(400);
    expect(await auditCount("MFA_FAILED")).toBeGreaterThanOrEqual(7);
  });

  it("logs in with a recovery code once (any case or spacing), never twice", async () => {
    const code = String(recoveryCodes[0]);
    const first = await login();
    const done = await post("/api/auth/login/totp", { mfaToken: first.body.data?.mfaToken, recoveryCode: ` ${code.toUpperCase()} ` });
    expect(done.status).toBe(200);
    expect(done.body.data?.token).toMatch(/^mps_/);
    expect(await auditCount("MFA_RECOVERY_CODE_USED")).toBe(1);
    const second = await login();
    expect((await post("/api/auth/login/totp", { mfaToken: second.body.data?.mfaToken, recoveryCode: code })).status).toBe(401);
  });

  it("holds a platform admin without TOTP to enrolment when policy requires it", async () => {
    const staff = await createUser(t.coordinator.database.db, { email: "staff@example.test", name: "Staff", platformRole: "PLATFORM_ADMIN" });
    const res = await post("/api/auth/login", { email: "staff@example.test", password: staff.password });
    expect(res.body.data).toMatchObject({ mfaSetupRequired: true });
    const token = String(res.body.data?.token);
    const blocked = await t.api("GET", "/api/admin/tenants", undefined, token);
    expect(blocked.status).toBe(403);
    expect(blocked.body.error).toBe("mfa_setup_required");
    expect((await t.api("GET", "/api/auth/me", undefined, token)).body.data).toMatchObject({ mfaSetupRequired: true });
    const enroll = await post("/api/auth/totp/enroll", {}, token);
    const staffSecret = String(enroll.body.data?.secret);
    expect((await post("/api/auth/totp/confirm", { code: await codeAt(staffSecret) }, token)).status).toBe(200);
    expect((await t.api("GET", "/api/admin/tenants", undefined, token)).status).toBe(200);
    // Policy also keeps it on.
    expect((await post("/api/auth/totp/disable", { recoveryCode: "x" }, token)).status).toBe(403);
  });

  it("turns TOTP off with a recovery code for a user outside the policy", async () => {
    const first = await login();
    const done = await post("/api/auth/login/totp", { mfaToken: first.body.data?.mfaToken, recoveryCode: recoveryCodes[1] });
    const token = String(done.body.data?.token);
    expect((await post("/api/auth/totp/disable", { recoveryCode: "not-a-code" }, token)).status).toBe(400);
    expect((await post("/api/auth/totp/disable", { recoveryCode: recoveryCodes[2] }, token)).status).toBe(200);
    const plain = await login();
    expect(plain.body.data?.token).toMatch(/^mps_/);
    expect(await auditCount("MFA_DISABLED")).toBe(1);
  });
});
