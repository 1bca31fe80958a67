import { randomUUID } from "node:crypto";
import { DnsZoneSync } from "@mpanel/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCoordinator, type TestCoordinator } from "./support/harness";

type Row = Record<string, unknown>;

/**
 * Domains, DNS records, certificates and the one-call CloudPod order through the API, without
 * agents: what the coordinator records, which jobs it enqueues with which payloads, and that bad
 * input is refused naming the field and changes nothing. The daemons' side is covered by the
 * agent tests and the end-to-end test.
 */
describe("domains, DNS, SSL and the CloudPod workflow (API)", () => {
  let t: TestCoordinator;
  let tenantA = "";
  let tenantB = "";
  const prisma = () => t.coordinator.database.db.prisma;

  async function addServer(roles: string[], ipv4: string | null = null): Promise<string> {
    const server = await prisma().server.create({ data: { hostname: `node-${roles.join("-")}-${randomUUID().slice(0, 6)}`, roles, status: "online", publicIpv4: ipv4 } });
    return server.id;
  }

  async function tenant(name: string): Promise<string> {
    const res = await t.api("POST", "/api/admin/tenants", { name });
    expect(res.status).toBe(201);
    return (res.body.data?.tenant as { id: string }).id;
  }

  async function jobsOf(type: string): Promise<Array<{ id: string; payload: unknown; status: string; targetServerId: string | null }>> {
    return prisma().job.findMany({ where: { type }, orderBy: { createdAt: "asc" }, select: { id: true, payload: true, status: true, targetServerId: true } });
  }

  beforeAll(async () => {
    t = await startTestCoordinator();
    await addServer(["web"], "203.0.113.10");
    await addServer(["dns"]);
    await addServer(["mail"], "198.51.100.25");
    tenantA = await tenant("Zone Tenant A");
    tenantB = await tenant("Zone Tenant B");
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("creates a domain with a zone from the template and sends the whole zone to the DNS node", async () => {
    const res = await t.api("POST", "/api/admin/domains", { tenantId: tenantA, name: "Zone-A.Example.COM" });
    expect(res.status).toBe(202);
    const domain = res.body.data?.domain as { id: string; name: string };
    expect(domain.name).toBe("zone-a.example.com");
    const detail = await t.api("GET", `/api/admin/domains/${domain.id}`);
    const records = detail.body.data?.records as Array<{ name: string; type: string; content: string }>;
    const has = (name: string, type: string) => records.filter((r) => r.name === name && r.type === type).map((r) => r.content);
    expect(has("zone-a.example.com.", "A")).toEqual(["127.0.0.1"]);
    expect(has("www.zone-a.example.com.", "A")).toEqual(["127.0.0.1"]);
    expect(has("zone-a.example.com.", "MX")).toEqual(["10 mail.zone-a.example.com."]);
    expect(has("zone-a.example.com.", "TXT")[0]).toContain("v=spf1");
    expect(has("_dmarc.zone-a.example.com.", "TXT")[0]).toContain("v=DMARC1");
    const [sync] = (await jobsOf("DNS_ZONE_SYNC")).filter((j) => (j.payload as { zone: string }).zone === "zone-a.example.com");
    const payload = DnsZoneSync.parse(sync?.payload);
    expect(payload.nameservers).toEqual(["ns1.zone-a.example.com"]);
    expect(payload.rrsets.find((r) => r.name === "zone-a.example.com." && r.type === "MX")?.records).toEqual(["10 mail.zone-a.example.com."]);
    const audit = await prisma().auditEvent.findFirst({ where: { action: "DOMAIN_CREATED", targetId: domain.id } });
    expect(audit?.tenantId).toBe(tenantA);
  });

  it("refuses a domain another tenant owns, naming the field, and writes nothing", async () => {
    const before = await prisma().domain.count();
    const res = await t.api("POST", "/api/admin/domains", { tenantId: tenantB, name: "zone-a.example.com" });
    expect(res.status).toBe(409);
    expect(res.body.details).toEqual([{ field: "name", message: "the domain is already owned by another tenant" }]);
    expect(await prisma().domain.count()).toBe(before);
    const pod = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId: tenantB, domain: "zone-a.example.com" });
    expect(pod.status).toBe(409);
    expect(pod.body.details?.[0]?.field).toBe("domain");
  });

  it("edits records with per-type validation and coalesces queued zone syncs", async () => {
    const list = await t.api("GET", "/api/admin/domains?q=zone-a");
    const id = (list.body.data as unknown as Array<{ id: string }>)[0]?.id as string;
    const syncsBefore = (await jobsOf("DNS_ZONE_SYNC")).length;
    const add = await t.api("POST", `/api/admin/domains/${id}/records`, { name: "shop", type: "CNAME", content: "zone-a.example.com" });
    expect(add.status).toBe(202);
    expect((add.body.data?.record as { name: string; content: string })).toMatchObject({ name: "shop.zone-a.example.com.", content: "zone-a.example.com." });
    const txt = await t.api("POST", `/api/admin/domains/${id}/records`, { name: "@", type: "TXT", content: '"google-site-verification=abc"', ttl: 300 });
    expect(txt.status).toBe(202);
    // Both changes rode on the one sync still queued: each sync carries the whole zone.
    const syncs = (await jobsOf("DNS_ZONE_SYNC")).filter((j) => (j.payload as { zone: string }).zone === "zone-a.example.com");
    expect((await jobsOf("DNS_ZONE_SYNC")).length).toBe(syncsBefore);
    const payload = DnsZoneSync.parse(syncs.at(-1)?.payload);
    expect(payload.rrsets.find((r) => r.name === "shop.zone-a.example.com." && r.type === "CNAME")?.records).toEqual(["zone-a.example.com."]);
    const apexTxt = payload.rrsets.find((r) => r.name === "zone-a.example.com." && r.type === "TXT");
    expect(apexTxt?.ttl).toBe(300);
    expect(apexTxt?.records).toContain('"google-site-verification=abc"');
  });

  it("refuses bad records naming the field and changes nothing", async () => {
    const list = await t.api("GET", "/api/admin/domains?q=zone-a");
    const id = (list.body.data as unknown as Array<{ id: string }>)[0]?.id as string;
    const before = await prisma().dnsRecord.count();
    const auditsBefore = await prisma().auditEvent.count({ where: { action: "DNS_CHANGED" } });
    const cases: Array<[Row, string]> = [
      [{ name: "www", type: "TXT", content: '"line one\nline two"' }, "content"],
      [{ name: "www", type: "TXT", content: '"unbalanced' }, "content"],
      [{ name: "www", type: "TXT", content: '"a" "b' }, "content"],
      [{ name: "@", type: "CNAME", content: "elsewhere.example.net" }, "type"],
      [{ name: "www", type: "CNAME", content: "elsewhere.example.net" }, "type"],
      [{ name: "shop", type: "A", content: "192.0.2.1" }, "type"],
      [{ name: "sub", type: "NS", content: "ns.example.net" }, "type"],
      [{ name: "@", type: "MX", content: "mail.example.net" }, "content"],
      [{ name: "@", type: "A", content: "300.1.1.1" }, "content"],
      [{ name: "bad name!", type: "A", content: "192.0.2.1" }, "name"],
      [{ name: "other.example.net.", type: "A", content: "192.0.2.1" }, "name"],
      [{ name: "@", type: "SOA", content: "x" }, "type"],
      [{ name: "@", type: "A", content: "192.0.2.1", ttl: 5 }, "ttl"],
    ];
    for (const [body, field] of cases) {
      const res = await t.api("POST", `/api/admin/domains/${id}/records`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.details?.map((d) => d.field), JSON.stringify(body)).toContain(field);
    }
    expect(await prisma().dnsRecord.count()).toBe(before);
    expect(await prisma().auditEvent.count({ where: { action: "DNS_CHANGED" } })).toBe(auditsBefore);
  });

  it("gives tenant B's owner nothing of tenant A's domain", async () => {
    const owner = await t.api("POST", "/api/admin/tenants", { name: "Zone Tenant C", owner: { email: "owner-c@example.test", name: "C Owner" } });
    const creds = owner.body.data?.owner as { oneTimePassword: string };
    const login = await t.api("POST", "/api/auth/login", { email: "owner-c@example.test", password: creds.oneTimePassword });
    const token = (login.body.data as { token: string }).token;
    const list = await t.api("GET", "/api/admin/domains?q=zone-a");
    const id = (list.body.data as unknown as Array<{ id: string }>)[0]?.id as string;
    expect((await t.api("GET", `/api/admin/domains/${id}`, undefined, token)).status).toBe(404);
    expect((await t.api("POST", `/api/admin/domains/${id}/records`, { name: "x", type: "A", content: "192.0.2.1" }, token)).status).toBe(404);
    expect(((await t.api("GET", "/api/admin/domains", undefined, token)).body.meta as { total: number }).total).toBe(0);
  });

  it("orders a CloudPod as one workflow: pod -> site -> zone -> mail, certificate after site and zone", async () => {
    const res = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId: tenantA, domain: "shop-a.example.com" });
    expect(res.status).toBe(202);
    const data = res.body.data as { cloudPod: { id: string; status: string }; websiteId: string; jobs: Record<string, string | null> };
    expect(data.cloudPod.status).toBe("provisioning");
    const jobs = await prisma().job.findMany({ where: { cloudPodId: data.cloudPod.id }, include: { dependsOn: true } });
    const byType = new Map(jobs.map((j) => [j.type, j]));
    expect([...byType.keys()].sort()).toEqual(["CREATE_CLOUDPOD", "CREATE_WEBSITE", "DNS_ZONE_SYNC", "ISSUE_SSL", "PROVISION_EMAIL_DOMAIN"]);
    const deps = (type: string) => byType.get(type)?.dependsOn.map((d) => jobs.find((j) => j.id === d.dependsOnJobId)?.type).sort();
    expect(deps("CREATE_WEBSITE")).toEqual(["CREATE_CLOUDPOD"]);
    expect(deps("DNS_ZONE_SYNC")).toEqual(["CREATE_WEBSITE"]);
    expect(deps("PROVISION_EMAIL_DOMAIN")).toEqual(["DNS_ZONE_SYNC"]);
    expect(deps("ISSUE_SSL")).toEqual(["CREATE_WEBSITE", "DNS_ZONE_SYNC"]);
    expect(byType.get("CREATE_CLOUDPOD")?.payload).toMatchObject({ php: true });
    expect(byType.get("CREATE_WEBSITE")?.payload).toMatchObject({ runtime: "php", tls: false, suspended: false, domain: "shop-a.example.com", aliases: ["www.shop-a.example.com"] });
    expect(byType.get("ISSUE_SSL")?.payload).toMatchObject({ site: { tls: true }, domains: ["shop-a.example.com", "www.shop-a.example.com"] });
    // The zone points the site at the web node's public address...
    const zone = DnsZoneSync.parse(byType.get("DNS_ZONE_SYNC")?.payload);
    expect(zone.rrsets.find((r) => r.name === "shop-a.example.com." && r.type === "A")?.records).toEqual(["203.0.113.10"]);
    // ...and its mail host at the mail node's.
    expect(zone.rrsets.find((r) => r.name === "mail.shop-a.example.com." && r.type === "A")?.records).toEqual(["198.51.100.25"]);
  });

  it("connects a domain to a site: zone sync, then a certificate order once the zone is live", async () => {
    const site = await t.api("POST", "/api/admin/websites", { tenantId: tenantA, domain: "connect-a.example.com" });
    expect(site.status).toBe(202);
    const website = site.body.data?.website as { id: string; cloudPodId: string };
    const res = await t.api("POST", "/api/admin/domains", { tenantId: tenantA, name: "connect-a.example.com", cloudPodId: website.cloudPodId });
    expect(res.status).toBe(202);
    const data = res.body.data as { jobId: string; certificateJobId: string };
    const certJob = await prisma().job.findUniqueOrThrow({ where: { id: data.certificateJobId }, include: { dependsOn: true } });
    expect(certJob.type).toBe("ISSUE_SSL");
    expect(certJob.dependsOn.map((d) => d.dependsOnJobId)).toEqual([data.jobId]);
    expect(certJob.payload).toMatchObject({ site: { websiteId: website.id, tls: true }, domains: ["connect-a.example.com", "www.connect-a.example.com"] });
    const actions = (await prisma().auditEvent.findMany({ where: { tenantId: tenantA, requestId: { not: null } }, orderBy: { id: "desc" }, take: 2 })).map((e) => e.action);
    expect(actions.sort()).toEqual(["DOMAIN_CREATED", "SSL_ISSUE_REQUESTED"]);
  });

  it("places an order in the region asked for, and refuses a region without a web node", async () => {
    const west = await addServer(["web"], "192.0.2.80");
    await prisma().server.update({ where: { id: west }, data: { region: "us-west" } });
    const res = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId: tenantA, domain: "west-a.example.com", region: "us-west", mail: false, tls: false });
    expect(res.status).toBe(202);
    expect((res.body.data as { cloudPod: { serverId: string } }).cloudPod.serverId).toBe(west);
    const nowhere = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId: tenantA, domain: "nowhere-a.example.com", region: "ap-south", mail: false, tls: false });
    expect(nowhere.status).toBe(409);
    expect(nowhere.body.error).toBe("no_capacity");
    expect(await prisma().domain.count({ where: { name: "nowhere-a.example.com" } })).toBe(0);
    const bad = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId: tenantA, domain: "bad-a.example.com", region: "US West!" });
    expect(bad.body.details?.map((d) => d.field)).toEqual(["region"]);
  });

  it("moves the pod's status with its jobs and retries only the failed steps", async () => {
    const res = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId: tenantA, domain: "retry-a.example.com", mail: false, tls: false });
    const podId = (res.body.data as { cloudPod: { id: string } }).cloudPod.id;
    const store = t.coordinator.store;
    const jobs = await prisma().job.findMany({ where: { cloudPodId: podId }, orderBy: { createdAt: "asc" } });
    const [create, site, zone] = jobs;
    // Play the node: the pod and site succeed, the zone fails for good.
    for (const job of [create, site]) {
      await prisma().job.update({ where: { id: job!.id }, data: { status: "running", claimedBy: job!.targetServerId, attempts: 1 } });
      expect(await store.complete(job!.targetServerId!, { jobId: job!.id, success: true, retryable: false, result: {} })).toBe(true);
    }
    await prisma().job.update({ where: { id: zone!.id }, data: { status: "running", claimedBy: zone!.targetServerId, attempts: 1 } });
    await store.complete(zone!.targetServerId!, { jobId: zone!.id, success: false, retryable: false, errorCode: "pdns_error", errorMessage: "boom" });
    expect((await prisma().cloudPod.findUnique({ where: { id: podId } }))?.status).toBe("error");
    const retry = await t.api("POST", `/api/admin/hosting/cloudpods/${podId}/retry`);
    expect(retry.status).toBe(202);
    expect((retry.body.data as { requeued: number }).requeued).toBe(1);
    const after = await prisma().job.findMany({ where: { cloudPodId: podId } });
    expect(after.filter((j) => j.status === "succeeded").map((j) => j.id).sort()).toEqual([create!.id, site!.id].sort());
    expect(after.find((j) => j.id === zone!.id)?.status).toBe("queued");
    expect((await prisma().cloudPod.findUnique({ where: { id: podId } }))?.status).toBe("provisioning");
    await prisma().job.update({ where: { id: zone!.id }, data: { status: "running", claimedBy: zone!.targetServerId, attempts: 1 } });
    await store.complete(zone!.targetServerId!, { jobId: zone!.id, success: true, retryable: false, result: {} });
    expect((await prisma().cloudPod.findUnique({ where: { id: podId } }))?.status).toBe("running");
  });

  it("stores an issued certificate and schedules its renewal at 2/3 of its lifetime", async () => {
    const site = await prisma().website.findFirstOrThrow({ where: { domain: "shop-a.example.com" } });
    const cert = await prisma().tlsCertificate.findFirstOrThrow({ where: { websiteId: site.id } });
    const job = await prisma().job.findFirstOrThrow({ where: { type: "ISSUE_SSL", payload: { path: ["certificateId"], equals: cert.id } } });
    const notBefore = new Date(Date.now() - 61 * 86_400_000);
    const notAfter = new Date(notBefore.getTime() + 90 * 86_400_000);
    await prisma().job.update({ where: { id: job.id }, data: { status: "running", claimedBy: job.targetServerId, attempts: 1 } });
    await t.coordinator.store.complete(job.targetServerId!, {
      jobId: job.id, success: true, retryable: false,
      result: { serial: "0a1b", issuer: "CN=Pebble Intermediate", notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), domains: ["shop-a.example.com", "www.shop-a.example.com"], certificatePem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n" },
    });
    const issued = await prisma().tlsCertificate.findUniqueOrThrow({ where: { id: cert.id } });
    expect(issued.status).toBe("issued");
    expect(issued.renewAfter?.getTime()).toBe(notBefore.getTime() + 60 * 86_400_000);
    // Past 2/3 of its lifetime, so the renewal run picks it up once.
    expect(await t.coordinator.tls.scheduleRenewals()).toBe(1);
    const renew = await prisma().job.findMany({ where: { type: "RENEW_SSL", payload: { path: ["certificateId"], equals: cert.id } } });
    expect(renew).toHaveLength(1);
    expect(renew[0]?.payload).toMatchObject({ site: { tls: true } });
    expect((await prisma().tlsCertificate.findUniqueOrThrow({ where: { id: cert.id } })).status).toBe("renewing");
    expect(await t.coordinator.tls.scheduleRenewals()).toBe(0);
    const list = await t.api("GET", "/api/admin/ssl/certificates?expiringWithinDays=30");
    expect((list.body.data as unknown as Array<{ id: string }>).map((c) => c.id)).toContain(cert.id);
  });
});
