import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../agent/src/drivers/free-port";
import { createUser } from "../src/auth/users";
import { eventually, startTestCoordinator, type TestCoordinator } from "./support/harness";

const TRUSTED_PROXY = "127.0.0.2";

describe("sessions, login rate limits on the real client address, account lock, password change and reset", () => {
  let t: TestCoordinator;
  let smtp: SMTPServer;
  const mails: string[] = [];
  let clientNo = 0;

  /** A login attempt from a fresh client address behind the trusted proxy (so the rate limit stays out of the way). */
  async function loginFrom(body: { email: string; password: string }, peer = TRUSTED_PROXY, forwardedFor: string | undefined = `198.51.100.${++clientNo}`) {
    const res = await t.coordinator.app.inject({
      method: "POST", url: "/api/auth/login", payload: body, remoteAddress: peer,
      ...(forwardedFor ? { headers: { "x-forwarded-for": forwardedFor } } : {}),
    });
    return { status: res.statusCode, body: JSON.parse(res.body) as { data?: { token: string }; error?: string } };
  }

  beforeAll(async () => {
    const port = await freePort();
    smtp = new SMTPServer({
      authOptional: true, disabledCommands: ["STARTTLS"],
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          mails.push(Buffer.concat(chunks).toString("utf8"));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(port, "127.0.0.1", resolve));
    t = await startTestCoordinator({
      MPANEL_TRUSTED_PROXIES: TRUSTED_PROXY, MPANEL_LOGIN_RATE_MAX: "3", MPANEL_LOCK_THRESHOLD: "3", MPANEL_LOCK_MS: "600000",
      MPANEL_SMTP_URL: `smtp://127.0.0.1:${port}`, MPANEL_PUBLIC_URL: "https://panel.example.test",
    });
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise<void>((resolve) => smtp?.close(() => resolve()));
  });

  it("lists the user's own sessions and revokes one, which then gets 401", async () => {
    const user = await createUser(t.coordinator.database.db, { email: "sessions@example.test", name: "S" });
    const first = String((await loginFrom({ email: "sessions@example.test", password: user.password })).body.data?.token);
    const second = String((await loginFrom({ email: "sessions@example.test", password: user.password })).body.data?.token);
    const list = await t.api("GET", "/api/auth/sessions", undefined, first);
    const rows = list.body.data as unknown as Array<{ id: string; current: boolean; ip: string }>;
    expect(rows).toHaveLength(2);
    expect(rows.filter((r) => r.current)).toHaveLength(1);
    expect(rows.map((r) => r.ip).every((ip) => ip.startsWith("198.51.100."))).toBe(true);
    const other = rows.find((r) => !r.current);
    expect((await t.api("DELETE", `/api/auth/sessions/${other?.id}`, undefined, first)).status).toBe(200);
    expect((await t.api("GET", "/api/auth/me", undefined, second)).status).toBe(401);
    expect((await t.api("GET", "/api/auth/me", undefined, first)).status).toBe(200);
    // The admin cannot revoke this user's session through the own-sessions route.
    expect((await t.api("DELETE", `/api/auth/sessions/${rows.find((r) => r.current)?.id}`)).status).toBe(404);
  });

  it("rate-limits login per client address; X-Forwarded-For counts only from a trusted proxy", async () => {
    const wrong = { email: "nobody@example.test", password: "wrong" };
    // An untrusted peer that forges a new X-Forwarded-For each time is still one client.
    const forged = [];
    for (let i = 0; i < 5; i++) forged.push((await loginFrom(wrong, "127.0.0.3", `203.0.113.${i}`)).status);
    expect(forged).toEqual([401, 401, 401, 429, 429]);
    // Behind the trusted proxy, the forwarded address is the client: one is limited, another is not.
    const viaProxy = [];
    for (let i = 0; i < 4; i++) viaProxy.push((await loginFrom(wrong, TRUSTED_PROXY, "192.0.2.10")).status);
    expect(viaProxy).toEqual([401, 401, 401, 429]);
    expect((await loginFrom(wrong, TRUSTED_PROXY, "192.0.2.11")).status).toBe(401);
    const limited = await loginFrom(wrong, "127.0.0.3", "203.0.113.99");
    expect(limited.body.error).toBe("rate_limited");
  });

  it("locks an account after repeated failures (even the right password is refused), audited", async () => {
    const user = await createUser(t.coordinator.database.db, { email: "locked@example.test", name: "L" });
    for (let i = 0; i < 3; i++) expect((await loginFrom({ email: "locked@example.test", password: "wrong-password" })).status).toBe(401);
    const refused = await loginFrom({ email: "locked@example.test", password: user.password });
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe("unauthenticated");
    const prisma = t.coordinator.database.db.prisma;
    expect(await prisma.auditEvent.count({ where: { action: "ACCOUNT_LOCKED" } })).toBe(1);
    expect((await prisma.user.findUniqueOrThrow({ where: { email: "locked@example.test" } })).lockedUntil).not.toBeNull();
  });

  it("changes the password (current one checked) and ends the user's other sessions", async () => {
    const user = await createUser(t.coordinator.database.db, { email: "changer@example.test", name: "C" });
    const a = String((await loginFrom({ email: "changer@example.test", password: user.password })).body.data?.token);
    const b = String((await loginFrom({ email: "changer@example.test", password: user.password })).body.data?.token);
    const bad = await t.api("POST", "/api/auth/password", { currentPassword: "nope", newPassword: "a-brand-new-password" }, a);
    expect(bad.status).toBe(400);
    expect(bad.body.details?.[0]?.field).toBe("currentPassword");
    expect((await t.api("POST", "/api/auth/password", { currentPassword: user.password, newPassword: "short" }, a)).status).toBe(400);
    const ok = await t.api("POST", "/api/auth/password", { currentPassword: user.password, newPassword: "a-brand-new-password" }, a);
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ revokedSessions: 1 });
    expect((await t.api("GET", "/api/auth/me", undefined, b)).status).toBe(401);
    expect((await t.api("GET", "/api/auth/me", undefined, a)).status).toBe(200);
    expect((await loginFrom({ email: "changer@example.test", password: user.password })).status).toBe(401);
    expect((await loginFrom({ email: "changer@example.test", password: "a-brand-new-password" })).status).toBe(200);
  });

  it("resets a password by an emailed single-use link, which also lifts the lock", async () => {
    const reset = (body: unknown, url = "/api/auth/password-reset") =>
      t.coordinator.app.inject({ method: "POST", url, payload: body as object, remoteAddress: TRUSTED_PROXY, headers: { "x-forwarded-for": `198.51.100.${++clientNo}` } });
    expect((await reset({ email: "unknown@example.test" })).statusCode).toBe(202);
    expect((await reset({ email: "locked@example.test" })).statusCode).toBe(202);
    const mail = await eventually("the reset mail", async () => mails.find((m) => /^To: locked@example\.test/im.test(m)));
    expect(mails.some((m) => m.includes("unknown@example.test"))).toBe(false);
    // The body is quoted-printable: undo soft line breaks and the encoded "=".
    const token = /#token=(mpr_[A-Za-z0-9_-]{43})/.exec(mail.replace(/=\r?\n/g, "").replaceAll("=3D", "="))?.[1];
    expect(mail).toContain("https://panel.example.test/reset-password");
    expect(token).toBeDefined();
    const done = await reset({ token, newPassword: "reset-and-unlocked" }, "/api/auth/password-reset/complete");
    expect(done.statusCode).toBe(200);
    expect((await reset({ token, newPassword: "second-use-refused" }, "/api/auth/password-reset/complete")).statusCode).toBe(401);
    expect((await loginFrom({ email: "locked@example.test", password: "reset-and-unlocked" })).status).toBe(200);
  });
});
