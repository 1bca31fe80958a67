import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashMailPassword } from "../src/mail/password";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";
import { auditOf, counts, databaseText, drainJobs, fakeNode, fields, jobRow, tenantWithOwner, type TestTenant } from "./support/service-fixtures";

const MAIL_TABLES = ["mail_domains", "mailboxes", "mail_aliases"];
/** A DKIM public key as a mail node returns it (base64 SPKI DER; any base64 will do for the coordinator). */
const DKIM_KEY = Buffer.from("not-a-real-key-but-base64-all-the-same").toString("base64");

describe("email API: mail domains, mailboxes, aliases", () => {
  let t: TestCoordinator;
  let mailNode: string;
  let a: TestTenant;
  let b: TestTenant;
  let mailDomainId = "";
  let provisionJobId = "";
  let mailboxId = "";
  let aliasId = "";

  const drainMail = () => drainJobs(t, mailNode, ["mail"], (job) =>
    job.type === "PROVISION_EMAIL_DOMAIN" ? { result: { dkimSelector: (job.payload as { dkimSelector: string }).dkimSelector, dkimPublicKey: DKIM_KEY } } : {});

  beforeAll(async () => {
    t = await startTestCoordinator();
    const { prisma } = t.coordinator.database.db;
    mailNode = await fakeNode(t, "mail-test", ["mail"]);
    const dnsNode = await fakeNode(t, "dns-test", ["dns"]);
    a = await tenantWithOwner(t, "Mail Tenant A", "mail-owner-a@example.test");
    b = await tenantWithOwner(t, "Mail Tenant B", "mail-owner-b@example.test");
    const domainA = await prisma.domain.create({ data: { tenantId: a.id, name: "mail-a.example.com" } });
    await prisma.dnsZone.create({ data: { tenantId: a.id, domainId: domainA.id, serverId: dnsNode, name: "mail-a.example.com", nameservers: ["ns1.example.net"] } });
    await prisma.domain.create({ data: { tenantId: b.id, name: "mail-b.example.com" } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  describe("mail domains", () => {
    it("refuses a bad, unknown or other tenant's domain, naming `domain`, and writes nothing", async () => {
      const before = await counts(t, MAIL_TABLES);
      for (const [domain, status] of [["a;b.com", 400], ["x.com\n}", 400], ["unknown.example.com", 404], ["mail-b.example.com", 404]] as const) {
        const res = await t.api("POST", "/api/admin/email/domains", { tenantId: a.id, domain });
        expect(res.status, domain).toBe(status);
        expect(fields(res.body), domain).toEqual(["domain"]);
      }
      const asB = await t.api("POST", "/api/admin/email/domains", { tenantId: b.id, domain: "mail-a.example.com" }, b.ownerToken);
      expect(asB.status).toBe(404);
      expect(fields(asB.body)).toEqual(["domain"]);
      expect((await t.api("POST", "/api/admin/email/domains", { tenantId: a.id, domain: "mail-a.example.com" }, b.ownerToken)).status).toBe(404);
      expect(await counts(t, MAIL_TABLES)).toEqual(before);
    });

    it("creates a mail domain on the mail node with PROVISION_EMAIL_DOMAIN, once per domain", async () => {
      const res = await t.api("POST", "/api/admin/email/domains", { tenantId: a.id, domain: "Mail-A.Example.com" }, a.ownerToken);
      expect(res.status).toBe(202);
      const md = res.body.data?.mailDomain as { id: string; name: string; dkimSelector: string; status: string; serverId: string };
      expect(md).toMatchObject({ name: "mail-a.example.com", status: "provisioning", serverId: mailNode });
      expect(md.dkimSelector).toMatch(/^mpanel\d{6}$/);
      mailDomainId = md.id;
      provisionJobId = String(res.body.data?.jobId);
      const job = await jobRow(t, provisionJobId);
      expect(job).toMatchObject({ type: "PROVISION_EMAIL_DOMAIN", targetServerId: mailNode, tenantId: a.id, payload: { mailDomainId, domain: "mail-a.example.com", dkimSelector: md.dkimSelector } });
      expect((await auditOf(t, mailDomainId)).map((e) => e.action)).toEqual(["MAIL_DOMAIN_CREATED"]);

      const again = await t.api("POST", "/api/admin/email/domains", { tenantId: a.id, domain: "mail-a.example.com" });
      expect(again.status).toBe(409);
      expect(fields(again.body)).toEqual(["domain"]);
    });

    it("hides tenant A's mail domain from tenant B (404, empty list)", async () => {
      expect((await t.api("GET", `/api/admin/email/domains/${mailDomainId}`, undefined, b.ownerToken)).status).toBe(404);
      expect((await t.api("DELETE", `/api/admin/email/domains/${mailDomainId}`, undefined, b.ownerToken)).status).toBe(404);
      const list = await t.api("GET", "/api/admin/email/domains", undefined, b.ownerToken);
      expect(list.body.meta?.total).toBe(0);
      const own = await t.api("GET", `/api/admin/email/domains?tenantId=${a.id}&q=mail-a`, undefined, a.ownerToken);
      expect(own.body.meta?.total).toBe(1);
    });
  });

  describe("mailboxes", () => {
    it.each([
      ["a colon", "info:x"], ["a newline", "info\nx"], ["a slash", "info/x"], ["a space", "in fo"], ["a leading dot", ".info"],
      ["a doubled dot", "in..fo"], ["65 characters", "a".repeat(65)], ["empty", ""], ["an @", "info@x"],
    ])("refuses a local part with %s (400 on `localPart`, nothing written)", async (_why, localPart) => {
      const before = await counts(t, MAIL_TABLES);
      const res = await t.api("POST", "/api/admin/email/mailboxes", { mailDomainId, localPart, password: "long enough password" });
      expect(res.status).toBe(400);
      expect(fields(res.body)).toEqual(["localPart"]);
      expect(await counts(t, MAIL_TABLES)).toEqual(before);
    });

    it("refuses a short password and a negative quota, naming the field", async () => {
      const short = await t.api("POST", "/api/admin/email/mailboxes", { mailDomainId, localPart: "info", password: "short" });
      expect(fields(short.body)).toEqual(["password"]);
      const quota = await t.api("POST", "/api/admin/email/mailboxes", { mailDomainId, localPart: "info", password: "long enough password", quotaBytes: -1 });
      expect(fields(quota.body)).toEqual(["quotaBytes"]);
    });

    it("creates a mailbox with an argon2id hash Dovecot accepts, never storing the password", async () => {
      const password = "Plain-Mailbox-Secret-7731";
      const res = await t.api("POST", "/api/admin/email/mailboxes", { mailDomainId, localPart: "Info", password, quotaBytes: 1_000_000 }, a.ownerToken);
      expect(res.status).toBe(202);
      const mailbox = res.body.data?.mailbox as Record<string, unknown>;
      expect(mailbox).toMatchObject({ address: "info@mail-a.example.com", quotaBytes: 1_000_000, status: "provisioning", suspended: false });
      expect(mailbox).not.toHaveProperty("passwordHash");
      mailboxId = String(mailbox.id);
      const job = await jobRow(t, String(res.body.data?.jobId));
      expect(job).toMatchObject({ type: "CREATE_MAILBOX", targetServerId: mailNode, payload: { mailboxId, domain: "mail-a.example.com", localPart: "info", quotaBytes: 1_000_000, suspended: false } });
      expect(job.dependsOn).toEqual([provisionJobId]);
      const hash = String(job.payload.passwordHash);
      expect(hash).toMatch(/^\{ARGON2ID\}\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      await execa("doveadm", ["pw", "-t", hash, "-p", password]);
      await expect(execa("doveadm", ["pw", "-t", hash, "-p", "wrong password"])).rejects.toThrow(/mismatch/i);

      expect(await databaseText(t, MAIL_TABLES)).not.toContain(password);
      const fetched = await t.api("GET", `/api/admin/email/mailboxes/${mailboxId}`, undefined, a.ownerToken);
      expect(fetched.body.data).not.toHaveProperty("passwordHash");
      expect(JSON.stringify((await t.api("GET", "/api/admin/email/mailboxes")).body)).not.toContain("ARGON2ID");
    });

    it("keeps an address unique among mailboxes and aliases (409 on `localPart`)", async () => {
      const before = await counts(t, MAIL_TABLES);
      const dup = await t.api("POST", "/api/admin/email/mailboxes", { mailDomainId, localPart: "info", password: "another password" });
      expect(dup.status).toBe(409);
      expect(fields(dup.body)).toEqual(["localPart"]);
      const asAlias = await t.api("POST", "/api/admin/email/aliases", { mailDomainId, localPart: "info", destinations: ["x@example.org"] });
      expect(asAlias.status).toBe(409);
      expect(fields(asAlias.body)).toEqual(["localPart"]);
      expect(await counts(t, MAIL_TABLES)).toEqual(before);
    });

    it("gives tenant B nothing of tenant A's mailboxes (404)", async () => {
      expect((await t.api("GET", `/api/admin/email/mailboxes/${mailboxId}`, undefined, b.ownerToken)).status).toBe(404);
      expect((await t.api("PATCH", `/api/admin/email/mailboxes/${mailboxId}`, { suspended: true }, b.ownerToken)).status).toBe(404);
      expect((await t.api("DELETE", `/api/admin/email/mailboxes/${mailboxId}`, undefined, b.ownerToken)).status).toBe(404);
      const intrude = await t.api("POST", "/api/admin/email/mailboxes", { mailDomainId, localPart: "evil", password: "long enough password" }, b.ownerToken);
      expect(intrude.status).toBe(404);
      expect(fields(intrude.body)).toEqual(["mailDomainId"]);
      expect((await t.api("GET", "/api/admin/email/mailboxes", undefined, b.ownerToken)).body.meta?.total).toBe(0);
    });

    it("PATCH sends the full desired state in UPDATE_MAILBOX, after the pending create", async () => {
      expect(fields((await t.api("PATCH", `/api/admin/email/mailboxes/${mailboxId}`, {})).body)).toEqual(["body"]);
      const createJob = (await t.coordinator.database.db.prisma.job.findFirstOrThrow({ where: { type: "CREATE_MAILBOX" } })).id;
      const res = await t.api("PATCH", `/api/admin/email/mailboxes/${mailboxId}`, { suspended: true }, a.ownerToken);
      expect(res.status).toBe(202);
      expect(res.body.data?.mailbox).toMatchObject({ suspended: true, status: "updating" });
      const job = await jobRow(t, String(res.body.data?.jobId));
      const created = await jobRow(t, createJob);
      expect(job.type).toBe("UPDATE_MAILBOX");
      expect(job.payload).toEqual({ ...created.payload, suspended: true });
      expect(job.dependsOn).toEqual([createJob]);

      const password = "Rotated-Mailbox-Secret-9902";
      const next = await t.api("PATCH", `/api/admin/email/mailboxes/${mailboxId}`, { password, quotaBytes: 0 });
      const update = await jobRow(t, String(next.body.data?.jobId));
      expect(update.payload).toMatchObject({ suspended: true, quotaBytes: 0 });
      expect(update.payload.passwordHash).not.toBe(created.payload.passwordHash);
      expect(update.dependsOn).toEqual([createJob, job.id]);
      await execa("doveadm", ["pw", "-t", String(update.payload.passwordHash), "-p", password]);
      expect(await databaseText(t, MAIL_TABLES)).not.toContain(password);
      expect((await auditOf(t, mailboxId)).map((e) => e.action)).toEqual(["MAILBOX_CREATED", "MAILBOX_UPDATED", "MAILBOX_UPDATED"]);
    });

    it("creates an alias, refusing bad destinations and forwarding to itself", async () => {
      const bad = await t.api("POST", "/api/admin/email/aliases", { mailDomainId, localPart: "sales", destinations: ["not an address"] });
      expect(fields(bad.body)).toEqual(["destinations.0"]);
      const loop = await t.api("POST", "/api/admin/email/aliases", { mailDomainId, localPart: "sales", destinations: ["Sales@Mail-A.example.com"] });
      expect(loop.status).toBe(400);
      expect(fields(loop.body)).toEqual(["destinations"]);
      const res = await t.api("POST", "/api/admin/email/aliases", { mailDomainId, localPart: "sales", destinations: ["info@mail-a.example.com", "Boss@Example.org"] }, a.ownerToken);
      expect(res.status).toBe(202);
      aliasId = String((res.body.data?.alias as { id: string }).id);
      const job = await jobRow(t, String(res.body.data?.jobId));
      expect(job).toMatchObject({ type: "CREATE_MAIL_ALIAS", payload: { aliasId, domain: "mail-a.example.com", localPart: "sales", destinations: ["info@mail-a.example.com", "boss@example.org"] } });
      const dup = await t.api("POST", "/api/admin/email/mailboxes", { mailDomainId, localPart: "sales", password: "long enough password" });
      expect(dup.status).toBe(409);
      expect((await t.api("GET", `/api/admin/email/aliases/${aliasId}`, undefined, b.ownerToken)).status).toBe(404);
    });
  });

  describe("hooks and deletion", () => {
    it("records the node's outcomes: DKIM key stored and published, mailbox suspended, failures marked", async () => {
      const handled = await drainJobs(t, mailNode, ["mail"], (job) => {
        if (job.type === "CREATE_MAIL_ALIAS") return { success: false, errorCode: "postmap_failed", errorMessage: "boom" };
        return job.type === "PROVISION_EMAIL_DOMAIN" ? { result: { dkimSelector: (job.payload as { dkimSelector: string }).dkimSelector, dkimPublicKey: DKIM_KEY } } : {};
      });
      expect(handled.map((j) => j.type)).toEqual(["PROVISION_EMAIL_DOMAIN", "CREATE_MAILBOX", "CREATE_MAIL_ALIAS", "UPDATE_MAILBOX", "UPDATE_MAILBOX"]);
      const md = (await t.api("GET", `/api/admin/email/domains/${mailDomainId}`)).body.data;
      expect(md).toMatchObject({ status: "active", dkimPublicKey: DKIM_KEY, counts: { mailboxes: 1, aliases: 1 } });
      const { prisma } = t.coordinator.database.db;
      const txt = await prisma.dnsRecord.findFirstOrThrow({ where: { name: `${String(md?.dkimSelector)}._domainkey.mail-a.example.com.`, type: "TXT" } });
      expect(txt.content).toContain(`p=${DKIM_KEY}`);
      expect(await prisma.job.count({ where: { type: "DNS_ZONE_SYNC" } })).toBe(1);
      expect((await auditOf(t, mailDomainId)).map((e) => e.action)).toEqual(["MAIL_DOMAIN_CREATED", "MAIL_DOMAIN_PROVISIONED"]);
      expect((await t.api("GET", `/api/admin/email/mailboxes/${mailboxId}`)).body.data).toMatchObject({ status: "suspended", suspended: true, quotaBytes: 0 });
      expect((await t.api("GET", `/api/admin/email/aliases/${aliasId}`)).body.data?.status).toBe("failed");
      expect((await auditOf(t, aliasId)).map((e) => e.action)).toEqual(["MAIL_ALIAS_CREATED", "MAIL_ALIAS_FAILED"]);
    });

    it("refuses to delete a mail domain that still has mailboxes or aliases (409)", async () => {
      const res = await t.api("DELETE", `/api/admin/email/domains/${mailDomainId}`);
      expect(res.status).toBe(409);
      expect((await t.api("GET", `/api/admin/email/domains/${mailDomainId}`)).body.data?.status).toBe("active");
    });

    it("deletes mailbox, alias and then the domain through their jobs, and can create it again", async () => {
      const delMailbox = await t.api("DELETE", `/api/admin/email/mailboxes/${mailboxId}`, undefined, a.ownerToken);
      expect(delMailbox.status).toBe(202);
      const again = await t.api("DELETE", `/api/admin/email/mailboxes/${mailboxId}`);
      expect(again.body.data?.jobId).toBe(delMailbox.body.data?.jobId);
      expect((await jobRow(t, String(delMailbox.body.data?.jobId))).payload).toEqual({ mailboxId, domain: "mail-a.example.com", localPart: "info" });
      const delAlias = await t.api("DELETE", `/api/admin/email/aliases/${aliasId}`);
      expect((await jobRow(t, String(delAlias.body.data?.jobId))).payload).toEqual({ aliasId, domain: "mail-a.example.com", localPart: "sales" });
      expect((await drainMail()).map((j) => j.type).sort()).toEqual(["DELETE_MAILBOX", "DELETE_MAIL_ALIAS"]);
      expect((await t.api("GET", `/api/admin/email/mailboxes/${mailboxId}`)).status).toBe(404);
      expect((await t.api("GET", `/api/admin/email/aliases/${aliasId}`)).status).toBe(404);
      expect((await auditOf(t, mailboxId)).at(-1)).toMatchObject({ action: "MAILBOX_DELETED", data: { phase: "applied" } });

      const delDomain = await t.api("DELETE", `/api/admin/email/domains/${mailDomainId}`);
      expect(delDomain.status).toBe(202);
      expect((await jobRow(t, String(delDomain.body.data?.jobId))).payload).toEqual({ mailDomainId, domain: "mail-a.example.com" });
      await drainMail();
      expect((await t.api("GET", `/api/admin/email/domains/${mailDomainId}`)).status).toBe(404);
      expect((await auditOf(t, mailDomainId)).at(-1)?.action).toBe("MAIL_DOMAIN_DELETED");

      const recreated = await t.api("POST", "/api/admin/email/domains", { tenantId: a.id, domain: "mail-a.example.com" });
      expect(recreated.status).toBe(202);
      expect(recreated.body.data?.mailDomain).toMatchObject({ id: mailDomainId, status: "provisioning", dkimPublicKey: null });
      expect((await jobRow(t, String(recreated.body.data?.jobId))).status).toBe("queued");
    });

    it("marks a provisioned domain failed when the node returned no DKIM key", async () => {
      await drainJobs(t, mailNode, ["mail"]);
      expect((await t.api("GET", `/api/admin/email/domains/${mailDomainId}`)).body.data?.status).toBe("failed");
      expect((await auditOf(t, mailDomainId)).at(-1)?.action).toBe("MAIL_DOMAIN_FAILED");
    });
  });

  it("hashes with p=1 in the m,t,p order libsodium parses", async () => {
    const hash = await hashMailPassword("a password for the order check");
    expect(hash).toMatch(/^\{ARGON2ID\}\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    await execa("doveadm", ["pw", "-t", hash, "-p", "a password for the order check"]);
  });

  it("documents the email routes in OpenAPI", async () => {
    const res = await t.coordinator.app.inject({ method: "GET", url: "/api/openapi.json" });
    expect(res.statusCode).toBe(200);
    expect(Object.keys((JSON.parse(res.body) as { paths: Record<string, unknown> }).paths)).toContain("/api/admin/email/mailboxes/{id}");
  });
});
