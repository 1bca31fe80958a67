import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import { normalizeDomain } from "./names";

/**
 * DNS records as PowerDNS's HTTP API takes them: rrsets of one owner name and type, each record's
 * content in zone-file presentation format (RFC 1035 section 5.1, RFC 2782 SRV, RFC 8659 CAA).
 * Owner names and host names in content are absolute, lower case, with the trailing dot.
 */

/** Record types a hosted zone may hold through the API (SOA is the zone's own, never edited). */
export const RecordType = z.enum(["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"]);
export type RecordType = z.infer<typeof RecordType>;

const OWNER_LABEL = /^(?:\*|_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)$/;

/**
 * Normalizes an owner name to `name.` form: lower case, labels of letters, digits, `-` and `_`
 * (service labels like `_dmarc`), a `*` only as the whole first label. Null when invalid.
 */
export function normalizeOwner(input: string): string | null {
  const name = input.toLowerCase().replace(/\.$/, "");
  if (name.length === 0 || name.length > 253) return null;
  const labels = name.split(".");
  if (labels.length < 2) return null;
  if (!labels.every((label, i) => OWNER_LABEL.test(label) && (label !== "*" || i === 0))) return null;
  return `${name}.`;
}

/** `host` as an absolute name with the trailing dot, or null (`normalizeDomain` rules). */
function hostName(input: string): string | null {
  const host = normalizeDomain(input.replace(/\.$/, ""));
  return host === null ? null : `${host}.`;
}

const u16 = (s: string | undefined) => s !== undefined && /^\d{1,5}$/.test(s) && Number(s) <= 65_535;

/**
 * Splits TXT presentation content into its character-strings. Each must be `"..."` with only
 * `\"` and `\\` escapes (or `\DDD`), printable characters and at most 255 bytes once unescaped.
 * Returns null on unbalanced quotes, control characters (newline included) or a long string.
 */
export function parseTxt(content: string): string[] | null {
  const out: string[] = [];
  const re = /\s*"((?:[^"\\\x00-\x1f\x7f]|\\["\\]|\\\d{3})*)"\s*/y;
  let at = 0;
  while (at < content.length) {
    re.lastIndex = at;
    const m = re.exec(content);
    if (!m) return null;
    const text = (m[1] ?? "").replace(/\\(\d{3})/g, (_, d: string) => String.fromCharCode(Number(d))).replace(/\\(["\\])/g, "$1");
    if (Buffer.byteLength(text, "utf8") > 255) return null;
    out.push(m[1] ?? "");
    at = re.lastIndex;
  }
  return out.length > 0 ? out : null;
}

/** Quotes `text` as TXT content, split into 255-byte character-strings (e.g. a DKIM key). */
export function txtContent(text: string): string {
  const escaped: string[] = [];
  let chunk = "";
  let bytes = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, "utf8");
    if (bytes + size > 255) {
      escaped.push(chunk);
      chunk = "";
      bytes = 0;
    }
    chunk += ch === '"' || ch === "\\" ? `\\${ch}` : ch;
    bytes += size;
  }
  escaped.push(chunk);
  return escaped.map((c) => `"${c}"`).join(" ");
}

/**
 * Checks and canonicalizes one record's content for `type`. Returns `{ content }` in the form
 * PowerDNS stores, or `{ error }` saying what is wrong. Rules: A = dotted IPv4; AAAA = IPv6;
 * CNAME/NS = host name; MX = `<preference 0-65535> <host>`; SRV = `<priority> <weight> <port> <host>`;
 * TXT = quoted strings (`parseTxt`); CAA = `<flags 0-255> <issue|issuewild|iodef> "<value>"`.
 */
export function checkRecordContent(type: RecordType, input: string): { content: string } | { error: string } {
  if (/[\x00-\x1f\x7f]/.test(input)) return { error: "must not contain control characters or newlines" };
  const value = input.trim();
  const parts = value.split(/\s+/);
  switch (type) {
    case "A":
      return isIPv4(value) ? { content: value } : { error: "must be an IPv4 address" };
    case "AAAA":
      return isIPv6(value) ? { content: value.toLowerCase() } : { error: "must be an IPv6 address" };
    case "CNAME":
    case "NS": {
      const host = hostName(value);
      return host ? { content: host } : { error: "must be a host name" };
    }
    case "MX": {
      const host = parts.length === 2 ? hostName(parts[1] ?? "") : null;
      return u16(parts[0]) && host ? { content: `${Number(parts[0])} ${host}` } : { error: "must be '<preference 0-65535> <host name>'" };
    }
    case "SRV": {
      const host = parts.length === 4 ? (parts[3] === "." ? "." : hostName(parts[3] ?? "")) : null;
      return u16(parts[0]) && u16(parts[1]) && u16(parts[2]) && host
        ? { content: `${Number(parts[0])} ${Number(parts[1])} ${Number(parts[2])} ${host}` }
        : { error: "must be '<priority> <weight> <port> <target host>'" };
    }
    case "TXT":
      return parseTxt(value) ? { content: value } : { error: "must be one or more \"quoted\" strings of at most 255 bytes each, with balanced quotes" };
    case "CAA": {
      const m = /^(\d{1,3})\s+(issue|issuewild|iodef)\s+"([^"\\]*)"$/.exec(value);
      return m && Number(m[1]) <= 255 ? { content: `${Number(m[1])} ${m[2]} "${m[3]}"` } : { error: "must be '<flags 0-255> <issue|issuewild|iodef> \"<value>\"'" };
    }
  }
}

/** A record owner name (see `normalizeOwner`), parsed to its `name.` form. */
export const OwnerName = z.string().transform((value, ctx) => {
  const name = normalizeOwner(value);
  if (name === null) {
    ctx.addIssue({ code: "custom", message: "must be a DNS name: labels of a-z, 0-9, - or _ (a leading * allowed)" });
    return z.NEVER;
  }
  return name;
});

/** One rrset: all records of one owner name and type, with their TTL in seconds (60 s to 7 days). */
export const Rrset = z
  .strictObject({
    name: OwnerName,
    type: RecordType,
    ttl: z.number().int().min(60).max(604_800),
    records: z.array(z.string().max(4096)).min(1).max(100),
  })
  .transform((rrset, ctx) => {
    const records: string[] = [];
    rrset.records.forEach((record, i) => {
      const checked = checkRecordContent(rrset.type, record);
      if ("error" in checked) ctx.addIssue({ code: "custom", path: ["records", i], message: `${rrset.type} record ${checked.error}` });
      else records.push(checked.content);
    });
    if (rrset.type === "CNAME" && records.length > 1) ctx.addIssue({ code: "custom", path: ["records"], message: "a CNAME rrset holds exactly one record" });
    return { ...rrset, records: [...new Set(records)] };
  });
export type Rrset = z.output<typeof Rrset>;

/**
 * Why `rrsets` cannot all live in `zone` (`zone.` form), or null: every owner must be the zone
 * or inside it, names must be unique per type, a CNAME may not sit at the apex or beside any
 * other type at its name (RFC 1034 section 3.6.2), and NS below the apex is a delegation the
 * hosted zone does not take.
 */
export function zoneConflict(zone: string, rrsets: readonly Pick<Rrset, "name" | "type">[]): { index: number; message: string } | null {
  const types = new Map<string, Set<string>>();
  for (const [index, rrset] of rrsets.entries()) {
    if (rrset.name !== zone && !rrset.name.endsWith(`.${zone}`)) return { index, message: `${rrset.name} is not inside the zone ${zone}` };
    const seen = types.get(rrset.name) ?? new Set<string>();
    if (seen.has(rrset.type)) return { index, message: `duplicate ${rrset.type} rrset at ${rrset.name}` };
    if (rrset.type === "CNAME" && rrset.name === zone) return { index, message: "a CNAME cannot be at the zone apex" };
    if (rrset.type === "NS" && rrset.name !== zone) return { index, message: "NS records below the apex (delegations) are not supported" };
    if ((rrset.type === "CNAME" && seen.size > 0) || (rrset.type !== "CNAME" && seen.has("CNAME"))) {
      return { index, message: `a CNAME cannot share the name ${rrset.name} with other records` };
    }
    seen.add(rrset.type);
    types.set(rrset.name, seen);
  }
  return null;
}
