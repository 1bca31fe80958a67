import { describe, expect, it } from "vitest";
import { CreateWebsite, Domain, normalizeDomain } from "./jobs";

/** Host names that must never reach nginx's config or the file system. */
const badDomains: Array<[string, string]> = [
  ["semicolon (nginx directive injection)", "a;b.com"],
  ["newline and brace (block injection)", "x.com\n}"],
  ["leading hyphen in a label", "-x.com"],
  ["trailing hyphen in a label", "x-.com"],
  ["more than 253 characters", `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}.example.com`],
  ["a label of 64 characters", `${"a".repeat(64)}.com`],
  ["a single label", "localhost"],
  ["an IPv4 address", "1.2.3.4"],
  ["a space", "exa mple.com"],
  ["a double quote", 'ex"ample.com'],
  ["empty", ""],
];

describe("normalizeDomain", () => {
  it("lowercases ASCII names", () => {
    expect(normalizeDomain("Shop.Example.COM")).toBe("shop.example.com");
  });

  it("converts IDNs to punycode", () => {
    expect(normalizeDomain("bücher.de")).toBe("xn--bcher-kva.de");
    expect(normalizeDomain("BÜCHER.de")).toBe("xn--bcher-kva.de");
  });

  it("keeps names at the limits: 63-character labels, 253 characters in all", () => {
    const label63 = `${"a".repeat(63)}.com`;
    expect(normalizeDomain(label63)).toBe(label63);
    const name253 = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
    expect(name253).toHaveLength(253);
    expect(normalizeDomain(name253)).toBe(name253);
    expect(normalizeDomain("a-b.example.com")).toBe("a-b.example.com");
  });

  it("refuses the 254-character name one past the limit", () => {
    const name254 = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`;
    expect(name254).toHaveLength(254);
    expect(normalizeDomain(name254)).toBeNull();
  });

  it("refuses a name that passes 253 characters only once converted to punycode", () => {
    const input = `${Array.from({ length: 100 }, () => "ü").join(".")}.de`;
    expect(input.length).toBeLessThanOrEqual(253);
    expect(normalizeDomain(input)).toBeNull();
  });

  it.each(badDomains)("refuses %s", (_why, input) => {
    expect(normalizeDomain(input)).toBeNull();
  });

  it("refuses other punctuation and control characters instead of stripping them", () => {
    for (const input of ["exa\nmple.com", "exa\tmple.com", "x.com;", "x.com{", "x'.com", "x\\.com", "x/y.com", "x.com\t", "x\u0000.com", "x_y.com", "x..com", ".x.com", "x.com.."]) {
      expect(normalizeDomain(input), JSON.stringify(input)).toBeNull();
    }
  });

  it("refuses an all-numeric top-level label but allows digits elsewhere", () => {
    expect(normalizeDomain("example.123")).toBeNull();
    expect(normalizeDomain("123.example.com")).toBe("123.example.com");
  });
});

describe("Domain (zod)", () => {
  it("outputs the normalized name", () => {
    expect(Domain.parse("Shop.Example.COM")).toBe("shop.example.com");
    expect(Domain.parse("bücher.de")).toBe("xn--bcher-kva.de");
  });

  it.each(badDomains)("fails on %s with one issue", (_why, input) => {
    const result = Domain.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues).toHaveLength(1);
  });

  it("refuses non-strings", () => {
    expect(Domain.safeParse(42).success).toBe(false);
    expect(Domain.safeParse(null).success).toBe(false);
  });

  it("guards job payloads: a bad alias fails the whole CreateWebsite payload, with its path", () => {
    const payload = {
      websiteId: "8f7c2a52-55a4-4a3b-9f55-6f1f0a3e0c11", cloudPodId: "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
      systemUser: "cp0e1f2a3b4c5d", domain: "Example.com", aliases: ["www.example.com", "a;b.com"],
    };
    const bad = CreateWebsite.safeParse(payload);
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(["aliases", 1]);
    const good = CreateWebsite.parse({ ...payload, aliases: ["WWW.Example.com"] });
    expect(good.domain).toBe("example.com");
    expect(good.aliases).toEqual(["www.example.com"]);
  });
});
