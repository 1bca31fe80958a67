import { describe, expect, it } from "vitest";
import { checkRecordContent, normalizeOwner, parseTxt, Rrset, txtContent, zoneConflict, zoneTemplate, type RecordType } from "./dns";
import { DnsZoneSync } from "./jobs";

const content = (type: RecordType, input: string) => checkRecordContent(type, input);
const ok = (type: RecordType, input: string) => {
  const checked = content(type, input);
  if ("error" in checked) throw new Error(`${type} ${JSON.stringify(input)} refused: ${checked.error}`);
  return checked.content;
};
const refused = (type: RecordType, input: string) => "error" in content(type, input);

describe("normalizeOwner", () => {
  it("lower-cases, adds the trailing dot and accepts service labels, a leading wildcard and IDNs", () => {
    expect(normalizeOwner("WWW.Example.COM")).toBe("www.example.com.");
    expect(normalizeOwner("_dmarc.example.com.")).toBe("_dmarc.example.com.");
    expect(normalizeOwner("s1._domainkey.example.com")).toBe("s1._domainkey.example.com.");
    expect(normalizeOwner("*.example.com")).toBe("*.example.com.");
    expect(normalizeOwner("www.bücher.de")).toBe("www.xn--bcher-kva.de.");
  });

  it("refuses bad names", () => {
    for (const bad of ["", "com", "a..example.com", "www.*.example.com", "-a.example.com", "a b.example.com", "a\n.example.com", "a;b.example.com", `${"a".repeat(64)}.example.com`, `${"a.".repeat(127)}com`]) {
      expect(normalizeOwner(bad), bad).toBeNull();
    }
  });
});

describe("checkRecordContent", () => {
  it("A and AAAA", () => {
    expect(ok("A", " 192.0.2.1 ")).toBe("192.0.2.1");
    for (const bad of ["192.0.2", "192.0.2.256", "01.2.3.4", "::1", "192.0.2.1 x"]) expect(refused("A", bad), bad).toBe(true);
    expect(ok("AAAA", "2001:DB8:0:0:0::1")).toBe("2001:db8::1");
    expect(ok("AAAA", "2001:db8:0:1:0:0:0:1")).toBe("2001:db8:0:1::1");
    for (const bad of ["192.0.2.1", "2001:db8::g", "::ffff:192.0.2.1", "fe80::1%eth0"]) expect(refused("AAAA", bad), bad).toBe(true);
  });

  it("CNAME and NS", () => {
    expect(ok("CNAME", "Target.Example.NET")).toBe("target.example.net.");
    expect(ok("CNAME", "s1._domainkey.mailer.example.")).toBe("s1._domainkey.mailer.example.");
    for (const bad of ["*.example.net", "example", "a b.example.net", "1.2.3.4 x"]) expect(refused("CNAME", bad), bad).toBe(true);
    expect(ok("NS", "ns1.example.net.")).toBe("ns1.example.net.");
    expect(refused("NS", "_ns.example.net")).toBe(true);
  });

  it("MX needs a preference and a host (or the null MX)", () => {
    expect(ok("MX", "010  Mail.Example.com")).toBe("10 mail.example.com.");
    expect(ok("MX", "0 .")).toBe("0 .");
    for (const bad of ["mail.example.com", "65536 mail.example.com", "-1 mail.example.com", "10 mail.example.com extra", "10 _x.example.com", "10"]) {
      expect(refused("MX", bad), bad).toBe(true);
    }
  });

  it("SRV and CAA", () => {
    expect(ok("SRV", "10 5 5060 SIP.example.com")).toBe("10 5 5060 sip.example.com.");
    expect(ok("SRV", "0 0 0 .")).toBe("0 0 0 .");
    for (const bad of ["10 5 sip.example.com", "10 5 70000 sip.example.com", "a b c d"]) expect(refused("SRV", bad), bad).toBe(true);
    expect(ok("CAA", '0 ISSUE "letsencrypt.org"')).toBe('0 issue "letsencrypt.org"');
    expect(ok("CAA", '128 iodef "mailto:security@example.com"')).toBe('128 iodef "mailto:security@example.com"');
    for (const bad of ['256 issue "ca.example"', '0 tbs "ca.example"', "0 issue ca.example", '0 issue "a"b"', '0 issue "é"']) expect(refused("CAA", bad), bad).toBe(true);
  });

  it("TXT takes quoted strings and gives one canonical spelling", () => {
    expect(ok("TXT", '"v=spf1 mx -all"')).toBe('"v=spf1 mx -all"');
    expect(ok("TXT", '  "a"   "b""c"  ')).toBe('"a" "b" "c"');
    expect(ok("TXT", '"say \\"hi\\" \\\\ \\065"')).toBe('"say \\"hi\\" \\\\ A"');
    expect(ok("TXT", '"h\\195\\169llo"')).toBe('"héllo"');
    expect(ok("TXT", '"\\255"')).toBe('"\\255"');
    expect(ok("TXT", '""')).toBe('""');
  });

  it("TXT refuses newlines, unbalanced quotes, unquoted text and long strings", () => {
    for (const bad of ['"line one\nline two"', '"a"\n"b"', '"a\r"', '"tab\there"', '"a\\010b"', '"unbalanced', 'unbalanced"', '"a" "b', '"a\\"', '"a" b', "v=spf1 -all", "", '"\\256"', `"${"x".repeat(256)}"`]) {
      expect(refused("TXT", bad), JSON.stringify(bad)).toBe(true);
    }
    expect(refused("TXT", `"${"x".repeat(255)}"`)).toBe(false);
    expect(refused("TXT", `"${"é".repeat(128)}"`)).toBe(true);
  });

  it("refuses control characters for every type", () => {
    for (const type of ["A", "AAAA", "CNAME", "MX", "NS", "SRV", "CAA"] as const) {
      expect(content(type, "x\nx")).toEqual({ error: "must not contain control characters or newlines" });
    }
  });
});

describe("parseTxt and txtContent", () => {
  it("splits long text into 255-byte strings that join back to the text", () => {
    const key = `v=DKIM1; k=rsa; p=${"A".repeat(400)}`;
    const quoted = txtContent(key);
    const strings = parseTxt(quoted);
    expect(strings?.map((s) => s.length)).toEqual([255, key.length - 255]);
    expect(strings?.join("")).toBe(key);
    expect(ok("TXT", quoted)).toBe(quoted);
  });

  it("never splits inside a UTF-8 character and escapes quotes and backslashes", () => {
    const text = `${"x".repeat(254)}é"\\`;
    const strings = parseTxt(txtContent(text));
    expect(strings).toEqual(["x".repeat(254), 'é"\\']);
    expect(txtContent('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(txtContent("")).toBe('""');
  });

  it("escapes control characters, which the schema then refuses", () => {
    expect(txtContent("a\nb")).toBe('"a\\010b"');
    expect(refused("TXT", txtContent("a\nb"))).toBe(true);
  });
});

describe("Rrset", () => {
  it("canonicalizes and deduplicates records", () => {
    expect(Rrset.parse({ name: "Example.com", type: "MX", ttl: 300, records: ["10 mail.example.com", "10 MAIL.example.com."] })).toEqual({
      name: "example.com.",
      type: "MX",
      ttl: 300,
      records: ["10 mail.example.com."],
    });
  });

  it("names the bad record's index", () => {
    const parsed = Rrset.safeParse({ name: "example.com", type: "TXT", ttl: 300, records: ['"fine"', '"broken'] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path)).toEqual([["records", 1]]);
  });

  it("refuses two CNAME targets, a TTL out of range and unknown types", () => {
    expect(Rrset.safeParse({ name: "a.example.com", type: "CNAME", ttl: 300, records: ["b.example.com", "c.example.com"] }).success).toBe(false);
    expect(Rrset.safeParse({ name: "a.example.com", type: "A", ttl: 10, records: ["192.0.2.1"] }).success).toBe(false);
    expect(Rrset.safeParse({ name: "a.example.com", type: "SOA", ttl: 300, records: ["x"] }).success).toBe(false);
  });
});

describe("zoneConflict", () => {
  const zone = "example.com.";
  it("accepts a sound zone", () => {
    expect(zoneConflict(zone, [{ name: zone, type: "A" }, { name: zone, type: "MX" }, { name: "www.example.com.", type: "CNAME" }, { name: "*.example.com.", type: "A" }])).toBeNull();
  });

  it("refuses names outside the zone, duplicates, CNAME at the apex or beside other types, and NS", () => {
    const conflict = (rrsets: { name: string; type: RecordType }[]) => zoneConflict(zone, rrsets);
    expect(conflict([{ name: zone, type: "A" }, { name: "www.example.org.", type: "A" }])).toEqual({ index: 1, message: "www.example.org. is not inside the zone example.com." });
    expect(conflict([{ name: "badexample.com.", type: "A" }])?.index).toBe(0);
    expect(conflict([{ name: zone, type: "A" }, { name: zone, type: "A" }])?.message).toMatch(/duplicate/);
    expect(conflict([{ name: zone, type: "CNAME" }])?.message).toMatch(/apex/);
    expect(conflict([{ name: "a.example.com.", type: "TXT" }, { name: "a.example.com.", type: "CNAME" }])).toEqual({ index: 1, message: "a CNAME cannot share the name a.example.com. with other records" });
    expect(conflict([{ name: "a.example.com.", type: "CNAME" }, { name: "a.example.com.", type: "TXT" }])?.index).toBe(1);
    expect(conflict([{ name: zone, type: "NS" }])?.message).toMatch(/nameservers/);
    expect(conflict([{ name: "sub.example.com.", type: "NS" }])?.message).toMatch(/delegations/);
  });
});

describe("zoneTemplate", () => {
  const publicKey = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".padEnd(392, "Q");

  it("builds the default records, which the sync schema accepts", () => {
    const rrsets = zoneTemplate({ zone: "Example.COM.", ipv4: "192.0.2.10", ipv6: "2001:db8::10", dkim: { selector: "mp1", publicKey } });
    const sync = DnsZoneSync.parse({ zoneId: "7b0d1f0e-3c1a-4f55-9a51-0f0d4b1e2a3c", zone: "example.com", nameservers: ["ns1.example.net"], rrsets });
    const byKey = new Map(sync.rrsets.map((r) => [`${r.name} ${r.type}`, r.records]));
    expect([...byKey.keys()].sort()).toEqual([
      "_dmarc.example.com. TXT",
      "example.com. A",
      "example.com. AAAA",
      "example.com. MX",
      "example.com. TXT",
      "mail.example.com. A",
      "mail.example.com. AAAA",
      "mp1._domainkey.example.com. TXT",
      "www.example.com. A",
      "www.example.com. AAAA",
    ]);
    expect(byKey.get("example.com. MX")).toEqual(["10 mail.example.com."]);
    expect(byKey.get("example.com. TXT")).toEqual(['"v=spf1 mx a -all"']);
    expect(byKey.get("_dmarc.example.com. TXT")).toEqual(['"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com"']);
    const dkim = parseTxt(byKey.get("mp1._domainkey.example.com. TXT")?.[0] ?? "");
    expect(dkim?.length).toBe(2);
    expect(dkim?.join("")).toBe(`v=DKIM1; k=rsa; p=${publicKey}`);
    expect(sync.rrsets.every((r) => r.ttl === 3600)).toBe(true);
  });

  it("points MX to an outside mail host without adding its address, and takes custom texts", () => {
    const rrsets = zoneTemplate({ zone: "example.com", ipv4: "192.0.2.10", mailHost: "mx.provider.net", spf: "v=spf1 include:provider.net -all", dmarc: "v=DMARC1; p=reject", ttl: 600 });
    expect(rrsets.map((r) => `${r.name} ${r.type}`)).toEqual(["example.com. A", "www.example.com. A", "example.com. MX", "example.com. TXT", "_dmarc.example.com. TXT"]);
    expect(rrsets.find((r) => r.type === "MX")?.records).toEqual(["10 mx.provider.net."]);
    expect(rrsets.find((r) => r.name === "example.com." && r.type === "TXT")?.records).toEqual(['"v=spf1 include:provider.net -all"']);
    expect(rrsets.every((r) => r.ttl === 600)).toBe(true);
  });

  it("leaves bad addresses to the schema, which names the field, and throws on a bad zone", () => {
    const parsed = DnsZoneSync.safeParse({ zoneId: "7b0d1f0e-3c1a-4f55-9a51-0f0d4b1e2a3c", zone: "example.com", nameservers: ["ns1.example.net"], rrsets: zoneTemplate({ zone: "example.com", ipv4: "999.1.1.1" }) });
    expect(parsed.error?.issues[0]?.path).toEqual(["rrsets", 0, "records", 0]);
    expect(() => zoneTemplate({ zone: "not a zone", ipv4: "192.0.2.1" })).toThrow(RangeError);
  });
});
