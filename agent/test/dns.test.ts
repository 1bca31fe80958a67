import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zoneTemplate, type JobType, type RrsetInput } from "@mpanel/proto";
import { execa } from "execa";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAgentConfig } from "../src/config";
import { createPowerDns, PowerDnsError } from "../src/drivers/powerdns";
import { startPrivatePowerDns, type PrivatePowerDns } from "../src/drivers/powerdns-instance";
import { JobError, parsePayload, type JobContext } from "../src/jobs/define";
import { dnsHandlers } from "../src/jobs/dns/index";
import { createServices } from "../src/services";

const log = pino({ level: "silent" });
const zone = `z${randomBytes(4).toString("hex")}.test`;
const zoneId = randomUUID();
const nameservers = ["ns1.mpanel-dns.test", "ns2.mpanel-dns.test"];
const publicKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" }).toString("base64");
const template = zoneTemplate({ zone, ipv4: "192.0.2.10", ipv6: "2001:db8::10", dkim: { selector: "mp1", publicKey } });

describe("dns role against a private PowerDNS", () => {
  let prefix: string;
  let pdns: PrivatePowerDns;
  let ctx: JobContext;
  const events: { level: string; message: string }[] = [];

  /** Parses `payload` with the job's schema (as the agent does) and runs the dns handler. */
  const run = async <T extends "DNS_ZONE_SYNC" | "DELETE_DNS_ZONE">(type: T, payload: unknown) => {
    const handler = dnsHandlers[type] as { run(p: unknown, c: JobContext): Promise<unknown> };
    return handler.run(parsePayload(type as JobType, JSON.stringify(payload)), ctx) as Promise<Record<string, unknown>>;
  };
  const sync = (rrsets: RrsetInput[], ns = nameservers) => run("DNS_ZONE_SYNC", { zoneId, zone, nameservers: ns, rrsets });

  /** `dig +short` answers, sorted. */
  const dig = async (name: string, type: string): Promise<string[]> => {
    const r = await execa("dig", [`@127.0.0.1`, "-p", String(pdns.dnsPort), name, type, "+short", "+norecurse", "+time=2", "+tries=2"]);
    return r.stdout.split("\n").filter((l) => l.length > 0).sort();
  };
  const status = async (name: string): Promise<string> => {
    const r = await execa("dig", [`@127.0.0.1`, "-p", String(pdns.dnsPort), name, "A", "+noall", "+comments", "+norecurse", "+time=2", "+tries=2"]);
    return /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? r.stdout;
  };
  const serial = async () => Number((await dig(zone, "SOA"))[0]?.split(" ")[2]);
  /** TXT answer text: character-strings unquoted and joined (dig prints long records as several quoted strings). */
  const txt = async (name: string) => (await dig(name, "TXT")).map((line) => [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]).join(""));
  /** Everything the zone serves that the tests look at. */
  const snapshot = async () => ({ a: await dig(`www.${zone}`, "A"), mx: await dig(zone, "MX"), txt: await dig(zone, "TXT"), dmarc: await dig(`_dmarc.${zone}`, "TXT"), serial: await serial() });

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-pdns-"));
    pdns = await startPrivatePowerDns({ prefix });
    const config = parseAgentConfig({ coordinator: "127.0.0.1:1", roles: ["dns"], powerdns: pdns.config });
    ctx = {
      config,
      services: createServices(config, log),
      event: (level, message) => events.push({ level, message }),
      log,
      signal: new AbortController().signal,
    };
  });

  afterAll(async () => {
    await pdns?.stop();
    expect(pdns?.pid()).toBeUndefined();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("creates the template zone and answers its A, AAAA, MX, SPF, DKIM and DMARC records", async () => {
    expect(await status(zone)).toBe("REFUSED");
    expect(await sync(template)).toMatchObject({ outcome: "created" });

    expect(await dig(zone, "A")).toEqual(["192.0.2.10"]);
    expect(await dig(`www.${zone}`, "AAAA")).toEqual(["2001:db8::10"]);
    expect(await dig(zone, "MX")).toEqual([`10 mail.${zone}.`]);
    expect(await dig(`mail.${zone}`, "A")).toEqual(["192.0.2.10"]);
    expect(await dig(zone, "NS")).toEqual(nameservers.map((ns) => `${ns}.`));
    expect(await txt(zone)).toEqual(["v=spf1 mx a -all"]);
    expect(await txt(`mp1._domainkey.${zone}`)).toEqual([`v=DKIM1; k=rsa; p=${publicKey}`]);
    expect(await txt(`_dmarc.${zone}`)).toEqual([`v=DMARC1; p=quarantine; rua=mailto:postmaster@${zone}`]);
    expect((await dig(zone, "SOA"))[0]).toMatch(new RegExp(`^ns1\\.mpanel-dns\\.test\\. hostmaster\\.${zone}\\. \\d+ `));

    expect(events.filter((e) => e.level !== "info")).toEqual([]);
    const check = await execa("pdnsutil", [`--config-dir=${pdns.configDir}`, "check-zone", zone], { reject: false });
    expect(check.exitCode).toBe(0);
    expect(check.stdout).toMatch(/0 errors, 0 warnings/);
  });

  it("changes nothing, not even the serial, when synced again with the same state", async () => {
    const before = await serial();
    expect(await sync(template)).toEqual({ outcome: "unchanged", serial: before, replaced: 0, deleted: 0 });
    expect(await serial()).toBe(before);

    const extras: RrsetInput[] = [
      { name: `Txt.${zone}`, type: "TXT", ttl: 300, records: [String.raw`"h\195\169llo \"quoted\" \\"  "\255"`, '"second"'] },
      { name: zone, type: "CAA", ttl: 300, records: ['0 ISSUE "letsencrypt.org"'] },
      { name: `_sip._tcp.${zone}`, type: "SRV", ttl: 300, records: ["10 5 5060 SIP.example.net."] },
      { name: `nomail.${zone}`, type: "MX", ttl: 300, records: ["0 ."] },
      { name: `*.${zone}`, type: "AAAA", ttl: 300, records: ["2001:DB8:0:0:0:0:0:20"] },
    ];
    expect(await sync([...template, ...extras])).toMatchObject({ outcome: "changed", replaced: extras.length, deleted: 0 });
    const after = await serial();
    expect(await sync([...template, ...extras])).toEqual({ outcome: "unchanged", serial: after, replaced: 0, deleted: 0 });
    expect(await dig(`txt.${zone}`, "TXT")).toEqual([String.raw`"h\195\169llo \"quoted\" \\" "\255"`, '"second"']);
    expect(await dig(`anything.${zone}`, "AAAA")).toEqual(["2001:db8::20"]);
    expect(await sync(template)).toMatchObject({ outcome: "changed", replaced: 0, deleted: extras.length });
  });

  it("reports PowerDNS's own text when it refuses a change, and the zone stays as it was", async () => {
    const before = await snapshot();
    const powerdns = createPowerDns(pdns.config, log);
    const unchecked = { name: `bad.${zone}.`, type: "TXT" as const, ttl: 300, records: ['"unbalanced'] };
    const error = await powerdns.syncZone({ zone, nameservers, rrsets: [unchecked] }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(PowerDnsError);
    expect((error as PowerDnsError).code).toBe("rejected");
    expect((error as PowerDnsError).output).toMatch(/bad\..*TXT/);
    expect(await snapshot()).toEqual(before);

    const fresh = `fresh-${zone}`;
    const refused = await powerdns.syncZone({ zone: fresh, nameservers, rrsets: [{ ...unchecked, name: `bad.${fresh}.` }] }).then(() => undefined, (e: unknown) => e);
    expect((refused as PowerDnsError).code).toBe("rejected");
    expect(await powerdns.getZone(fresh)).toBeNull();
  });

  it("replaces changed rrsets, deletes undesired ones and bumps the serial", async () => {
    const before = await serial();
    const changed = template
      .filter((r) => r.name !== `_dmarc.${zone}.`)
      .map((r) => (r.name === `www.${zone}.` && r.type === "A" ? { ...r, records: ["192.0.2.20", "192.0.2.21"] } : r));
    expect(await sync(changed)).toMatchObject({ outcome: "changed", replaced: 1, deleted: 1 });
    expect(await serial()).toBeGreaterThan(before);
    expect(await dig(`www.${zone}`, "A")).toEqual(["192.0.2.20", "192.0.2.21"]);
    expect(await dig(`_dmarc.${zone}`, "TXT")).toEqual([]);
    expect(await dig(zone, "A")).toEqual(["192.0.2.10"]);
  });

  it("turns a name's records into a CNAME and follows new nameservers in NS and SOA", async () => {
    const before = await serial();
    const rrsets: RrsetInput[] = [...template.filter((r) => r.name !== `www.${zone}.`), { name: `www.${zone}`, type: "CNAME", ttl: 300, records: [zone] }];
    expect(await sync(rrsets, ["ns-a.other-dns.test"])).toMatchObject({ outcome: "changed" });
    expect(await dig(`www.${zone}`, "CNAME")).toEqual([`${zone}.`]);
    expect(await dig(zone, "NS")).toEqual(["ns-a.other-dns.test."]);
    expect((await dig(zone, "SOA"))[0]?.split(" ")[0]).toBe("ns-a.other-dns.test.");
    expect(await serial()).toBeGreaterThan(before);
    await sync(template);
    expect(await dig(`www.${zone}`, "A")).toEqual(["192.0.2.10"]);
  });

  it("refuses bad payloads naming the field, and the served zone stays as it was", async () => {
    const before = await snapshot();
    const apexTxt = template.findIndex((r) => r.name === `${zone}.` && r.type === "TXT");
    const withTxt = (content: string) => template.map((r, i) => (i === apexTxt ? { ...r, records: [content] } : r));
    const cases: [RrsetInput[], string][] = [
      [withTxt('"v=spf1 mx\n-all"'), `rrsets.${apexTxt}.records.0: TXT record must not contain control characters`],
      [withTxt('"v=spf1 mx -all'), `rrsets.${apexTxt}.records.0: TXT record must be one or more "quoted" strings`],
      [[...template, { name: zone, type: "CNAME", ttl: 300, records: ["other.test"] }], `rrsets.${template.length}: a CNAME cannot be at the zone apex`],
      [[...template.filter((r) => r.type !== "MX"), { name: zone, type: "MX", ttl: 300, records: [`mail.${zone}`] }], `rrsets.${template.length - 1}.records.0: MX record must be '<preference`],
      [[...template, { name: "www.elsewhere.test", type: "A", ttl: 300, records: ["192.0.2.99"] }], `rrsets.${template.length}: www.elsewhere.test. is not inside the zone`],
    ];
    for (const [rrsets, message] of cases) {
      const error = await sync(rrsets).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(JobError);
      expect((error as JobError).code).toBe("invalid_payload");
      expect((error as JobError).retryable).toBe(false);
      expect((error as JobError).message).toContain(message);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("fails without retry when PowerDNS refuses the API key, and changes nothing", async () => {
    const before = await serial();
    const wrongKey = createPowerDns({ ...pdns.config, apiKey: "not-the-right-key-at-all" }, log);
    const error = await dnsHandlers.DNS_ZONE_SYNC.run(parsePayload("DNS_ZONE_SYNC", JSON.stringify({ zoneId, zone, nameservers, rrsets: [] })), { ...ctx, services: { ...ctx.services, powerdns: wrongKey } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "powerdns_unauthorized", retryable: false });
    expect(await serial()).toBe(before);
  });

  it("deletes the zone so the server no longer answers for it, and deleting again is fine", async () => {
    expect(await run("DELETE_DNS_ZONE", { zoneId, zone })).toEqual({ outcome: "deleted" });
    expect(await status(zone)).toBe("REFUSED");
    expect(await dig(zone, "A")).toEqual([]);
    expect(await run("DELETE_DNS_ZONE", { zoneId, zone })).toEqual({ outcome: "absent" });
  });
});
