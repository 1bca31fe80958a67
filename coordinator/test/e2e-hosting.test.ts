import { request } from "node:https";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { ImapFlow } from "imapflow";
import { createTransport } from "nodemailer";
import { Client as PgClient } from "pg";
import { createConnection } from "mariadb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent, type RunningAgent } from "../../agent/src/agent";
import { startLocalPlatform, type LocalPlatform } from "../../agent/src/local-platform";
import { eventually, joinToken, startTestCoordinator, testLog, waitForJob, type TestCoordinator } from "./support/harness";

/** GET over HTTPS to nginx's TLS port with SNI `host`, trusting only `ca`; the peer certificate's serial too. */
function httpsGet(port: number, host: string, ca: string, path = "/"): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, servername: host, headers: { host }, ca, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, serial: (res.socket as import("node:tls").TLSSocket).getPeerCertificate().serialNumber ?? "" }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function dig(port: number, name: string, type: string): Promise<string[]> {
  const { stdout } = await execa("dig", ["@127.0.0.1", "-p", String(port), name, type, "+short", "+norecurse", "+time=2", "+tries=1"]);
  return stdout.split("\n").filter(Boolean);
}

/**
 * Acceptance 6 of the hosting-services issue: one API call orders a CloudPod, and four agents
 * (web, dns, mail, db), each driving its real daemons, turn it into a live HTTPS PHP site with a
 * DNS zone, mail and databases.
 */
describe("hosting services end to end: one order to a live HTTPS PHP site with DNS, mail and databases", () => {
  let t: TestCoordinator;
  let dir: string;
  let platform: LocalPlatform;
  const agents: RunningAgent[] = [];
  let tenantId = "";
  let order: { cloudPod: { id: string; systemUser: string }; websiteId: string; domainId: string; jobs: Record<string, string | null> };
  const domain = "shop.e2e-hosting.test";

  beforeAll(async () => {
    t = await startTestCoordinator();
    dir = await mkdtemp(join(tmpdir(), "mpanel-e2e-hosting-"));
    platform = await startLocalPlatform({ dir, coordinator: t.grpcAddress, logLevel: process.env.MPANEL_TEST_LOG ?? "silent" });
    for (const config of Object.values(platform.agents)) agents.push(await startAgent(config, testLog, await joinToken(t, [...config.roles])));
    await eventually("four nodes online", async () => {
      const res = await t.api("GET", "/api/admin/servers?status=online");
      return (res.body.meta as { total: number } | undefined)?.total === 4;
    });
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "E2E Hosting Customer" });
    tenantId = (tenant.body.data?.tenant as { id: string }).id;
  });
  afterAll(async () => {
    await Promise.all(agents.map((agent) => agent.stop(2000)));
    await platform?.stop();
    await t?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("provisions pod, PHP site, zone, mail domain and certificate from one call", async () => {
    const res = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId, domain });
    expect(res.status).toBe(202);
    order = res.body.data as typeof order;
    for (const [step, jobId] of Object.entries(order.jobs)) {
      const job = await waitForJob(t, String(jobId), ["succeeded", "failed"], 60_000);
      expect(job.status, `${step}: ${String(job.errorCode)} ${String(job.errorMessage)}`).toBe("succeeded");
    }
    const pod = await eventually("pod running", async () => {
      const got = await t.api("GET", `/api/admin/hosting/cloudpods/${order.cloudPod.id}`);
      return got.body.data?.status === "running" ? got.body.data : null;
    });
    expect(pod.systemUser).toBe(order.cloudPod.systemUser);
  });

  it("serves the PHP page over HTTPS with Pebble's certificate, running as the pod's own user", async () => {
    const root = await platform.pebble.fetchRoot();
    const page = await httpsGet(platform.tlsPort, domain, root);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`runs as ${order.cloudPod.systemUser}`);
    const certs = await t.api("GET", `/api/admin/ssl/certificates?tenantId=${tenantId}`);
    const cert = (certs.body.data as unknown as Array<{ status: string; domains: string[]; serial: string }>)[0];
    expect(cert?.status).toBe("issued");
    expect(cert?.domains).toEqual([domain, `www.${domain}`]);
    expect(BigInt(`0x${page.serial}`)).toBe(BigInt(`0x${cert?.serial}`));
  });

  it("answers the zone's A, MX and TXT (SPF, DKIM, DMARC) records from PowerDNS", async () => {
    const port = platform.powerdns.dnsPort;
    expect(await dig(port, domain, "A")).toEqual(["127.0.0.1"]);
    expect(await dig(port, `www.${domain}`, "A")).toEqual(["127.0.0.1"]);
    expect(await dig(port, domain, "MX")).toEqual([`10 mail.${domain}.`]);
    expect((await dig(port, domain, "TXT")).join(" ")).toContain("v=spf1");
    expect((await dig(port, `_dmarc.${domain}`, "TXT")).join(" ")).toContain("v=DMARC1");
    const mailDomain = await eventually("DKIM key stored", async () => {
      const list = await t.api("GET", `/api/admin/email/domains?tenantId=${tenantId}`);
      const row = (list.body.data as unknown as Array<{ dkimSelector: string; dkimPublicKey: string | null }>)[0];
      return row?.dkimPublicKey ? row : null;
    });
    const dkim = await eventually("DKIM record published", async () => {
      const answer = (await dig(port, `${mailDomain.dkimSelector}._domainkey.${domain}`, "TXT")).join("").replaceAll('" "', "");
      return answer.includes("v=DKIM1") ? answer : null;
    }, 30_000);
    expect(dkim).toContain(`p=${mailDomain.dkimPublicKey}`);
  });

  it("delivers mail to a new mailbox, read over IMAP; a wrong password and a suspended mailbox are refused", async () => {
    const list = await t.api("GET", `/api/admin/email/domains?tenantId=${tenantId}`);
    const mailDomainId = (list.body.data as unknown as Array<{ id: string }>)[0]?.id;
    const password = "correct horse battery staple";
    const created = await t.api("POST", "/api/admin/email/mailboxes", { mailDomainId, localPart: "info", password, quotaBytes: 50 * 1024 * 1024 });
    expect(created.status).toBe(202);
    expect((await waitForJob(t, String(created.body.data?.jobId))).status).toBe("succeeded");
    const address = `info@${domain}`;
    await createTransport({ host: "127.0.0.1", port: platform.mail.smtpPort, secure: false, ignoreTLS: true })
      .sendMail({ from: "customer@example.net", to: address, subject: "Order 42", text: "hello from the e2e test" });
    const imap = (pass: string) => new ImapFlow({ host: "127.0.0.1", port: platform.mail.imapPort, secure: false, auth: { user: address, pass }, logger: false });
    const subject = await eventually("message in INBOX", async () => {
      const client = imap(password);
      await client.connect();
      try {
        const box = await client.mailboxOpen("INBOX");
        if (box.exists === 0) return null;
        const message = await client.fetchOne("*", { envelope: true });
        return message ? message.envelope?.subject : null;
      } finally {
        await client.logout();
      }
    });
    expect(subject).toBe("Order 42");
    await expect(imap("wrong password").connect()).rejects.toThrow();
    const mailboxId = (created.body.data?.mailbox as { id: string }).id;
    const suspended = await t.api("PATCH", `/api/admin/email/mailboxes/${mailboxId}`, { suspended: true });
    expect((await waitForJob(t, String(suspended.body.data?.jobId))).status).toBe("succeeded");
    await expect(imap(password).connect()).rejects.toThrow();
  });

  it("creates MariaDB and PostgreSQL databases whose users log in to their own database only", async () => {
    const make = async (engine: string, name: string, username: string, owner = tenantId) => {
      const db = await t.api("POST", "/api/admin/hosting/databases", { tenantId: owner, engine, name });
      expect(db.status, JSON.stringify(db.body)).toBe(202);
      const databaseId = (db.body.data?.database as { id: string }).id;
      expect((await waitForJob(t, String(db.body.data?.jobId))).status).toBe("succeeded");
      const user = await t.api("POST", `/api/admin/hosting/databases/${databaseId}/users`, { username });
      expect(user.status, JSON.stringify(user.body)).toBe(202);
      expect((await waitForJob(t, String(user.body.data?.jobId))).status).toBe("succeeded");
      return String(user.body.data?.password);
    };
    const other = await t.api("POST", "/api/admin/tenants", { name: "E2E Other Customer" });
    const otherTenant = (other.body.data?.tenant as { id: string }).id;
    await make("mariadb", "e2e_rival", "e2e_rival_user", otherTenant);
    await make("postgresql", "e2e_rival_pg", "e2e_rival_pg_user", otherTenant);
    const mariaPassword = await make("mariadb", "e2e_shop", "e2e_shop_user");
    const maria = await createConnection({ host: "127.0.0.1", port: platform.mariadb.port, user: "e2e_shop_user", password: mariaPassword, database: "e2e_shop" });
    await maria.query("CREATE TABLE orders (id INT PRIMARY KEY)");
    await maria.query("INSERT INTO orders VALUES (42)");
    expect(await maria.query("SELECT id FROM orders")).toEqual([{ id: 42 }]);
    await expect(maria.query("SELECT * FROM mysql.user")).rejects.toThrow();
    await expect(maria.query("SELECT * FROM e2e_rival.t")).rejects.toThrow(/denied/);
    await maria.end();
    await expect(createConnection({ host: "127.0.0.1", port: platform.mariadb.port, user: "e2e_shop_user", password: mariaPassword, database: "e2e_rival" })).rejects.toThrow(/denied/);

    const pgPassword = await make("postgresql", "e2e_blog", "e2e_blog_user");
    const pg = new PgClient({ host: "127.0.0.1", port: platform.postgresql.port, user: "e2e_blog_user", password: pgPassword, database: "e2e_blog" });
    await pg.connect();
    await pg.query("CREATE TABLE posts (id int PRIMARY KEY)");
    expect((await pg.query("INSERT INTO posts VALUES (7) RETURNING id")).rows).toEqual([{ id: 7 }]);
    await pg.end();
    const intruder = new PgClient({ host: "127.0.0.1", port: platform.postgresql.port, user: "e2e_blog_user", password: pgPassword, database: "e2e_rival_pg" });
    await expect(intruder.connect()).rejects.toThrow(/permission denied/);
  });
});
