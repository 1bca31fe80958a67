import { createServer, type Server } from "node:http";
import Provider from "oidc-provider";
import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../agent/src/drivers/free-port";
import { hashSecret } from "../src/auth/tokens";
import { createUser } from "../src/auth/users";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

const PANEL = "http://panel.example.test";
const CLIENT = { id: "mpanel-panel", secret: "a-client-secret-for-tests" };
const TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/** The provider's accounts: `sub` -> claims. */
const accounts: Record<string, Record<string, unknown>> = {
  alice: { email: "Alice@corp.example.test", email_verified: true, name: "Alice" },
  mallory: { email: "victim@corp.example.test", email_verified: false, name: "Mallory" },
  newbie: { email: "newbie@corp.example.test", email_verified: true, name: "New Bie" },
  outsider: { email: "someone@elsewhere.example.test", email_verified: true },
  second: { email: "second@corp.example.test", email_verified: true },
};

describe("OIDC sign-in (code + PKCE) against a real oidc-provider", () => {
  let t: TestCoordinator;
  let idp: Server;
  let issuer = "";

  /** Runs the browser's part: start at the coordinator, sign in and consent at the provider, stop at the panel's callback URL. */
  async function authorize(slug: string, account: string): Promise<{ search: string; flowToken: string }> {
    const start = await t.coordinator.app.inject({ method: "GET", url: `/api/auth/oidc/${slug}/start` });
    expect(start.statusCode, start.body).toBe(302);
    const flow = start.cookies.find((c) => c.name === "mpanel_oidc");
    expect(flow).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/api/auth/oidc/" });
    const jar = new Map<string, string>();
    const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const keep = (res: Response) => {
      for (const line of res.headers.getSetCookie()) {
        const pair = line.split(";")[0] ?? "";
        jar.set(pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1));
      }
    };
    let url = String(start.headers.location);
    expect(url.startsWith(issuer)).toBe(true);
    expect(new URL(url).searchParams.get("code_challenge_method")).toBe("S256");
    for (let hop = 0; hop < 20; hop++) {
      if (url.startsWith(PANEL)) return { search: new URL(url).search, flowToken: String(flow?.value) };
      const res = await fetch(url, { redirect: "manual", headers: { cookie: cookie() } });
      keep(res);
      if (res.status === 200) {
        const prompt = /name="prompt" value="(login|consent)"/.exec(await res.text())?.[1];
        const form: Record<string, string> = prompt === "login" ? { prompt, login: account, password: "any" } : { prompt: "consent" };
        const post = await fetch(url, { method: "POST", redirect: "manual", body: new URLSearchParams(form), headers: { cookie: cookie() } });
        keep(post);
        url = new URL(String(post.headers.get("location")), url).href;
      } else {
        expect(res.status, await res.text()).toBeGreaterThanOrEqual(300);
        url = new URL(String(res.headers.get("location")), url).href;
      }
    }
    throw new Error("the provider never redirected back");
  }

  async function callback(slug: string, search: string, flowToken?: string) {
    const res = await t.coordinator.app.inject({
      method: "GET", url: `/api/auth/oidc/${slug}/callback${search}`, remoteAddress: "192.0.2.50",
      ...(flowToken ? { cookies: { mpanel_oidc: flowToken } } : {}),
    });
    return { status: res.statusCode, location: String(res.headers.location), session: res.cookies.find((c) => c.name === "mpanel_session")?.value };
  }

  const prisma = () => t.coordinator.database.db.prisma;
  const lastFailure = async () => (await prisma().auditEvent.findFirst({ where: { action: "LOGIN_FAILED" }, orderBy: { id: "desc" } }))?.data;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    const provider = new Provider(issuer, {
      clients: [{
        client_id: CLIENT.id, client_secret: CLIENT.secret, grant_types: ["authorization_code"], response_types: ["code"],
        redirect_uris: ["corp", "corp-jit"].map((slug) => `${PANEL}/api/auth/oidc/${slug}/callback`),
      }],
      claims: { email: ["email", "email_verified"], profile: ["name"] },
      cookies: { keys: ["oidc-provider-test-cookie-key"] },
      features: { devInteractions: { enabled: true } },
      findAccount: (_ctx, sub) => (accounts[sub] ? { accountId: sub, claims: () => ({ sub, ...accounts[sub] }) } : undefined),
    });
    idp = createServer(provider.callback());
    await new Promise<void>((resolve) => idp.listen(port, "127.0.0.1", resolve));
    t = await startTestCoordinator({ MPANEL_OIDC_ALLOW_HTTP: "true", MPANEL_PUBLIC_URL: PANEL, MPANEL_LOGIN_RATE_MAX: "1000" });
    const common = { issuer, clientId: CLIENT.id, clientSecret: CLIENT.secret, allowedDomains: ["corp.example.test"] };
    expect((await t.api("POST", "/api/admin/identity/oidc-providers", { ...common, slug: "corp", displayName: "Corp SSO" })).status).toBe(201);
    expect((await t.api("POST", "/api/admin/identity/oidc-providers", { ...common, slug: "corp-jit", displayName: "Corp SSO (JIT)", allowJit: true })).status).toBe(201);
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
  });

  it("manages providers: secret never shown, bad input named, duplicates refused, public list for the login page", async () => {
    const list = await t.api("GET", "/api/admin/identity/oidc-providers");
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(CLIENT.secret);
    const bad = await t.api("POST", "/api/admin/identity/oidc-providers", { slug: "x", displayName: "X", issuer, clientId: "c", clientSecret: "s", scopes: ["email"] });
    expect(bad.status).toBe(400);
    expect(bad.body.details?.[0]?.field).toBe("scopes");
    const dup = await t.api("POST", "/api/admin/identity/oidc-providers", { slug: "corp", displayName: "Again", issuer, clientId: "c", clientSecret: "s" });
    expect(dup.status).toBe(409);
    const pub = await t.coordinator.app.inject({ method: "GET", url: "/api/auth/oidc/providers" });
    expect(JSON.parse(pub.body).data).toEqual([{ slug: "corp", displayName: "Corp SSO" }, { slug: "corp-jit", displayName: "Corp SSO (JIT)" }]);
    expect((await t.coordinator.app.inject({ method: "GET", url: "/api/auth/oidc/nope/start" })).statusCode).toBe(404);
    const openapi = await t.coordinator.app.inject({ method: "GET", url: "/api/openapi.json" });
    expect(openapi.statusCode).toBe(200);
    expect(openapi.body).toContain("/api/auth/oidc/{provider}/callback");
  });

  it("signs in the user with the verified email: links the account, issues a working session, reuses the link", async () => {
    const alice = await createUser(t.coordinator.database.db, { email: "alice@corp.example.test", name: "Alice" });
    const { search, flowToken } = await authorize("corp", "alice");
    const done = await callback("corp", search, flowToken);
    expect(done.status).toBe(302);
    expect(done.location).toBe("/");
    const me = await t.api("GET", "/api/auth/me", undefined, done.session);
    expect(me.status).toBe(200);
    expect(me.body.data?.userId).toBe(alice.userId);
    const link = await prisma().oidcIdentity.findFirstOrThrow({ where: { subject: "alice" } });
    expect(link.userId).toBe(alice.userId);
    // A flow is single use: the same callback again is refused.
    expect((await callback("corp", search, flowToken)).location).toBe("/login#error=oidc");
    const again = await authorize("corp", "alice");
    const second = await callback("corp", again.search, again.flowToken);
    expect((await t.api("GET", "/api/auth/me", undefined, second.session)).body.data?.userId).toBe(alice.userId);
    expect(await prisma().oidcIdentity.count({ where: { subject: "alice" } })).toBe(1);
  });

  it("refuses a wrong state, a tampered nonce and a callback without the browser's flow cookie", async () => {
    const sessions = await prisma().session.count();
    const wrongState = await authorize("corp", "alice");
    const params = new URLSearchParams(wrongState.search);
    params.set("state", "forged-state");
    const refusedState = await callback("corp", `?${params}`, wrongState.flowToken);
    expect(refusedState).toMatchObject({ status: 302, location: "/login#error=oidc", session: undefined });
    // openid-client's codes: the authorization response's state did not match.
    expect(await lastFailure()).toMatchObject({ reason: "oidc_exchange", error: "OAUTH_INVALID_RESPONSE" });

    const wrongNonce = await authorize("corp", "alice");
    await prisma().oidcLogin.update({ where: { flowHash: hashSecret(wrongNonce.flowToken) }, data: { nonce: "tampered-nonce" } });
    const refusedNonce = await callback("corp", wrongNonce.search, wrongNonce.flowToken);
    expect(refusedNonce).toMatchObject({ location: "/login#error=oidc", session: undefined });
    // ... and the ID token's nonce claim did not match the stored one.
    expect(await lastFailure()).toMatchObject({ reason: "oidc_exchange", error: "OAUTH_JWT_CLAIM_COMPARISON_FAILED" });

    const otherBrowser = await authorize("corp", "alice");
    expect((await callback("corp", otherBrowser.search)).location).toBe("/login#error=oidc");
    expect(await lastFailure()).toMatchObject({ reason: "oidc_flow" });
    // The flow of one provider cannot finish at another's callback.
    expect((await callback("corp-jit", otherBrowser.search, otherBrowser.flowToken)).location).toBe("/login#error=oidc");
    expect(await prisma().session.count()).toBe(sessions);
  });

  it("does not link an unverified email to the account that has it", async () => {
    const victim = await createUser(t.coordinator.database.db, { email: "victim@corp.example.test", name: "Victim" });
    const flow = await authorize("corp", "mallory");
    const res = await callback("corp", flow.search, flow.flowToken);
    expect(res).toMatchObject({ location: "/login#error=oidc", session: undefined });
    expect(await lastFailure()).toMatchObject({ reason: "oidc_email_unverified" });
    expect(await prisma().oidcIdentity.count({ where: { userId: victim.userId } })).toBe(0);
    expect(await prisma().session.count({ where: { userId: victim.userId } })).toBe(0);
  });

  it("creates a user just in time only where the provider allows it, and only in the allowed domains", async () => {
    const refused = await authorize("corp", "newbie");
    expect((await callback("corp", refused.search, refused.flowToken)).location).toBe("/login#error=oidc");
    expect(await lastFailure()).toMatchObject({ reason: "oidc_no_account" });
    expect(await prisma().user.count({ where: { email: "newbie@corp.example.test" } })).toBe(0);

    const allowed = await authorize("corp-jit", "newbie");
    const created = await callback("corp-jit", allowed.search, allowed.flowToken);
    expect(created.location).toBe("/");
    const user = await prisma().user.findUniqueOrThrow({ where: { email: "newbie@corp.example.test" }, include: { platformRole: true, memberships: true } });
    expect(user).toMatchObject({ name: "New Bie", platformRole: null, memberships: [] });
    expect((await t.api("GET", "/api/auth/me", undefined, created.session)).body.data?.userId).toBe(user.id);
    expect(await prisma().auditEvent.count({ where: { action: "OIDC_LINKED", targetId: user.id } })).toBe(1);

    const outsider = await authorize("corp-jit", "outsider");
    expect((await callback("corp-jit", outsider.search, outsider.flowToken)).location).toBe("/login#error=oidc");
    expect(await lastFailure()).toMatchObject({ reason: "oidc_domain_not_allowed" });
    expect(await prisma().user.count({ where: { email: "someone@elsewhere.example.test" } })).toBe(0);
  });

  it("still asks for the TOTP code of a linked account that has TOTP on", async () => {
    const user = await createUser(t.coordinator.database.db, { email: "second@corp.example.test", name: "Second" });
    await prisma().user.update({ where: { id: user.userId }, data: { totpSecret: TOTP_SECRET, totpEnabledAt: new Date() } });
    const flow = await authorize("corp", "second");
    const res = await callback("corp", flow.search, flow.flowToken);
    expect(res.session).toBeUndefined();
    const mfaToken = /^\/login#mfaToken=(mpm_[A-Za-z0-9_-]{43})$/.exec(res.location)?.[1];
    expect(mfaToken).toBeDefined();
    const code = await generate({ secret: TOTP_SECRET });
    const done = await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login/totp", payload: { mfaToken, code } });
    expect(done.statusCode).toBe(200);
    expect((JSON.parse(done.body) as { data: { userId: string } }).data.userId).toBe(user.userId);
  });

  it("deletes a provider (super admins only): its sign-in is gone, its links go with it", async () => {
    const providers = (await t.api("GET", "/api/admin/identity/oidc-providers")).body.data as unknown as Array<{ id: string; slug: string }>;
    const corp = providers.find((p) => p.slug === "corp");
    expect((await t.api("DELETE", `/api/admin/identity/oidc-providers/${corp?.id}`)).status).toBe(200);
    expect((await t.coordinator.app.inject({ method: "GET", url: "/api/auth/oidc/corp/start" })).statusCode).toBe(404);
    expect(await prisma().oidcIdentity.count({ where: { subject: "alice" } })).toBe(0);
    expect(await prisma().auditEvent.count({ where: { action: "OIDC_PROVIDER_DELETED", targetId: corp?.id } })).toBe(1);
  });
});
