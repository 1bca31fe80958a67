import { isIPv4, isIPv6 } from "node:net";
import { domainToASCII } from "node:url";
import { z } from "zod";
import { normalizeDomain } from "./names";

/**
 * DNS records as PowerDNS's HTTP API takes them: rrsets of one owner name and type, each record's
 * content in zone-file presentation format (RFC 1035 section 5.1, RFC 2782 SRV, RFC 8659 CAA),
 * in the one canonical spelling `checkRecordContent` produces (PowerDNS refuses or keeps other
 * spellings verbatim, so comparing desired and served content needs a single form).
 * Owner names and host names in content are absolute, lower case, with the trailing dot.
 */

/**
 * Record types a hosted zone may hold through the API. SOA is the zone's own (PowerDNS bumps its
 * serial); NS is accepted by `checkRecordContent` but `zoneConflict` refuses NS rrsets, since the
 * apex NS come from the zone's `nameservers` and delegations are not supported.
 */
export const RecordType = z.enum(["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"]);
export type RecordType = z.infer<typeof RecordType>;

const NAME_LABEL = /^(?:\*|_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)$/;

/** `input` as `name.` (lower case, IDN to punycode), or null; `*` allowed as the first label only when `wildcard`. */
function normalizeName(input: string, wildcard: boolean): string | null {
  if (/[\s\p{Cc};{}"'\\/@]/u.test(input)) return null;
  const lower = input.toLowerCase().replace(/\.$/, "");
  const name = /^[\x20-\x7e]*$/.test(lower) ? lower : domainToASCII(lower);
  if (name.length === 0 || name.length > 253) return null;
  const labels = name.split(".");
  if (labels.length < 2) return null;
  const valid = (label: string, i: number) => label.length <= 63 && NAME_LABEL.test(label) && (label !== "*" || (wildcard && i === 0));
  return labels.every(valid) ? `${name}.` : null;
}

/**
 * Normalizes an owner name to `name.` form: lower case, IDN labels to punycode, labels of
 * letters, digits, `-` and `_` (service labels like `_dmarc`) of at most 63 characters, at least
 * two labels, at most 253 characters, and a `*` only as the whole first label. Null when invalid.
 */
export function normalizeOwner(input: string): string | null {
  return normalizeName(input, true);
}

/** `host` as an absolute name with the trailing dot, or null (`normalizeDomain` rules: a host name, no `_`). */
function hostName(input: string): string | null {
  const host = normalizeDomain(input.replace(/\.$/, ""));
  return host === null ? null : `${host}.`;
}

const u16 = (s: string | undefined) => s !== undefined && /^\d{1,5}$/.test(s) && Number(s) <= 65_535;

/** One TXT character-string in quotes: `\DDD` (decimal byte), `\X` (literal X) or any non-control character. */
const CHARACTER_STRING = /\s*"((?:\\\d{3}|\\[^\d\x00-\x1f\x7f]|[^"\\\x00-\x1f\x7f])*)"\s*/y;

/** The bytes one quoted string stands for, or null for a `\DDD` above 255. */
function unescapeCharacterString(body: string): Buffer | null {
  const bytes: number[] = [];
  for (const [, decimal, literal, plain] of body.matchAll(/\\(\d{3})|\\(.)|([^\\]+)/gsu)) {
    if (decimal !== undefined) {
      if (Number(decimal) > 255) return null;
      bytes.push(Number(decimal));
    } else bytes.push(...Buffer.from(literal ?? plain ?? "", "utf8"));
  }
  return Buffer.from(bytes);
}

/**
 * Quotes one character-string canonically: valid UTF-8 without control or line/paragraph
 * separator characters stays as text with `"` and `\` escaped; any other byte outside printable
 * ASCII becomes `\DDD`.
 */
function quoteCharacterString(bytes: Buffer): string {
  let text: string | null;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    text = null;
  }
  if (text !== null && !/[\p{Cc}\p{Zl}\p{Zp}\uFEFF]/u.test(text)) return `"${text.replace(/["\\]/g, "\\$&")}"`;
  let out = "";
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\${String(b).padStart(3, "0")}`;
  }
  return `"${out}"`;
}

/** The character-strings of TXT content as bytes, or null (see `parseTxt`). */
function parseTxtBytes(content: string): Buffer[] | null {
  const out: Buffer[] = [];
  let at = 0;
  while (at < content.length) {
    CHARACTER_STRING.lastIndex = at;
    const m = CHARACTER_STRING.exec(content);
    const bytes = m ? unescapeCharacterString(m[1] ?? "") : null;
    if (bytes === null || bytes.length > 255 || bytes.some((b) => b < 0x20 || b === 0x7f)) return null;
    out.push(bytes);
    at = CHARACTER_STRING.lastIndex;
  }
  return out.length > 0 ? out : null;
}

/**
 * Splits TXT presentation content (RFC 1035 section 5.1) into its character-strings, unescaped
 * and decoded as UTF-8. Each must be `"..."` with `\"`, `\\`, `\X` or `\DDD` escapes and at most
 * 255 bytes once unescaped. Returns null on unbalanced quotes or text outside quotes, control
 * characters (newline included, raw or escaped), a `\DDD` above 255 or a long string.
 */
export function parseTxt(content: string): string[] | null {
  return parseTxtBytes(content)?.map((bytes) => bytes.toString("utf8")) ?? null;
}

/**
 * Quotes `text` as canonical TXT content, split into character-strings of at most 255 bytes
 * (never inside a UTF-8 character), e.g. a DKIM key of 400 characters becomes two strings.
 * Control characters are escaped as `\DDD` here and then refused by `checkRecordContent`.
 */
export function txtContent(text: string): string {
  const chunks: Buffer[] = [];
  let chunk: Buffer[] = [];
  let size = 0;
  for (const ch of text) {
    const bytes = Buffer.from(ch, "utf8");
    if (size + bytes.length > 255) {
      chunks.push(Buffer.concat(chunk));
      chunk = [];
      size = 0;
    }
    chunk.push(bytes);
    size += bytes.length;
  }
  chunks.push(Buffer.concat(chunk));
  return chunks.map(quoteCharacterString).join(" ");
}

/** An IPv6 address in RFC 5952 form (lower case, longest zero run compressed), or null; IPv4-mapped addresses are refused. */
function canonicalIPv6(value: string): string | null {
  if (!isIPv6(value) || value.includes("%")) return null;
  const canonical = new URL(`http://[${value}]/`).hostname.slice(1, -1);
  return /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/.test(canonical) ? null : canonical;
}

/**
 * Checks and canonicalizes one record's content for `type`. Returns `{ content }` in the single
 * form this project stores and sends to PowerDNS, or `{ error }` saying what is wrong. Rules:
 * A = dotted IPv4; AAAA = IPv6 (RFC 5952 form, not IPv4-mapped); CNAME = a name (`_` labels
 * allowed); NS = host name; MX = `<preference 0-65535> <host>` or the null MX `0 .` (RFC 7505);
 * SRV = `<priority> <weight> <port> <host or .>`; TXT = quoted strings (`parseTxt`), re-quoted
 * canonically and joined by one space; CAA = `<flags 0-255> <issue|issuewild|iodef> "<printable ASCII>"`.
 * Content with control characters (newlines included) is refused for every type.
 */
export function checkRecordContent(type: RecordType, input: string): { content: string } | { error: string } {
  if (/[\x00-\x1f\x7f]/.test(input)) return { error: "must not contain control characters or newlines" };
  const value = input.trim();
  const parts = value.split(/\s+/);
  switch (type) {
    case "A":
      return isIPv4(value) ? { content: value } : { error: "must be an IPv4 address" };
    case "AAAA": {
      const address = canonicalIPv6(value);
      return address ? { content: address } : { error: "must be an IPv6 address (not IPv4-mapped)" };
    }
    case "CNAME": {
      const target = normalizeName(value, false);
      return target ? { content: target } : { error: "must be a DNS name" };
    }
    case "NS": {
      const host = hostName(value);
      return host ? { content: host } : { error: "must be a host name" };
    }
    case "MX": {
      if (parts.length === 2 && parts[0] === "0" && parts[1] === ".") return { content: "0 ." };
      const host = parts.length === 2 ? hostName(parts[1] ?? "") : null;
      return u16(parts[0]) && host ? { content: `${Number(parts[0])} ${host}` } : { error: "must be '<preference 0-65535> <host name>' (or '0 .')" };
    }
    case "SRV": {
      const host = parts.length === 4 ? (parts[3] === "." ? "." : hostName(parts[3] ?? "")) : null;
      return u16(parts[0]) && u16(parts[1]) && u16(parts[2]) && host
        ? { content: `${Number(parts[0])} ${Number(parts[1])} ${Number(parts[2])} ${host}` }
        : { error: "must be '<priority> <weight> <port> <target host>'" };
    }
    case "TXT": {
      const strings = parseTxtBytes(value);
      return strings ? { content: strings.map(quoteCharacterString).join(" ") } : { error: 'must be one or more "quoted" strings of at most 255 bytes each, with balanced quotes' };
    }
    case "CAA": {
      const m = /^(\d{1,3})\s+(issue|issuewild|iodef)\s+"([\x20\x21\x23-\x5b\x5d-\x7e]*)"$/i.exec(value);
      return m && Number(m[1]) <= 255 ? { content: `${Number(m[1])} ${m[2]?.toLowerCase()} "${m[3]}"` } : { error: "must be '<flags 0-255> <issue|issuewild|iodef> \"<value>\"'" };
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

/**
 * One rrset: all records of one owner name and type, with their TTL in seconds (60 s to 7 days).
 * Parsing canonicalizes each record (`checkRecordContent`) and drops duplicates; a bad record is
 * an issue at `records.<index>`.
 */
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
/** An rrset as the coordinator may write it (before parsing). */
export type RrsetInput = z.input<typeof Rrset>;

/**
 * Why `rrsets` cannot all live in `zone` (`zone.` form), or null: every owner must be the zone
 * or inside it, names must be unique per type, a CNAME may not sit at the apex or beside any
 * other type at its name (RFC 1034 section 3.6.2), and no NS rrset is taken (the apex NS come
 * from the zone's nameservers; delegations are not supported). `index` is the offending rrset's.
 */
export function zoneConflict(zone: string, rrsets: readonly Pick<Rrset, "name" | "type">[]): { index: number; message: string } | null {
  const types = new Map<string, Set<string>>();
  for (const [index, rrset] of rrsets.entries()) {
    if (rrset.name !== zone && !rrset.name.endsWith(`.${zone}`)) return { index, message: `${rrset.name} is not inside the zone ${zone}` };
    const seen = types.get(rrset.name) ?? new Set<string>();
    if (seen.has(rrset.type)) return { index, message: `duplicate ${rrset.type} rrset at ${rrset.name}` };
    if (rrset.type === "CNAME" && rrset.name === zone) return { index, message: "a CNAME cannot be at the zone apex" };
    if (rrset.type === "NS") {
      return { index, message: rrset.name === zone ? "the apex NS records come from the zone's nameservers" : "NS records below the apex (delegations) are not supported" };
    }
    if ((rrset.type === "CNAME" && seen.size > 0) || (rrset.type !== "CNAME" && seen.has("CNAME"))) {
      return { index, message: `a CNAME cannot share the name ${rrset.name} with other records` };
    }
    seen.add(rrset.type);
    types.set(rrset.name, seen);
  }
  return null;
}

/** What `zoneTemplate` builds a zone's default records from. */
export interface ZoneTemplateInput {
  /** The zone, e.g. "example.com" (a trailing dot and upper case are accepted). */
  zone: string;
  /** Address of the apex and `www` (and of the mail host when it is inside the zone). */
  ipv4: string;
  ipv6?: string;
  /** Host the MX points to; default `mail.<zone>`, which then gets A/AAAA records too. */
  mailHost?: string;
  /** Address of an in-zone mail host (the mail node's); default `ipv4`/`ipv6`. */
  mailIpv4?: string;
  mailIpv6?: string;
  /** DKIM key (RFC 6376 section 3.6.1): `publicKey` is the base64 SPKI DER, as PROVISION_EMAIL_DOMAIN returns it. */
  dkim?: { selector: string; publicKey: string };
  /** SPF policy text (RFC 7208); default `v=spf1 mx a -all`. */
  spf?: string;
  /** DMARC policy text (RFC 7489); default `v=DMARC1; p=quarantine; rua=mailto:postmaster@<zone>`. */
  dmarc?: string;
  /** TTL of every record in seconds; default 3600. */
  ttl?: number;
}

/**
 * The default records of a new hosted zone, as rrset input for `DnsZoneSync.rrsets`: A (and
 * AAAA) at the apex, `www` and an in-zone mail host, MX 10 to the mail host, SPF TXT at the
 * apex, DKIM TXT at `<selector>._domainkey` (`v=DKIM1; k=rsa; p=<key>` split by `txtContent`)
 * and DMARC TXT at `_dmarc`. Addresses, key and texts are not checked here: parsing the result
 * with `Rrset` / `DnsZoneSync` does that and names the bad field. Throws a RangeError when
 * `zone` or `mailHost` is not a host name.
 */
export function zoneTemplate(input: ZoneTemplateInput): RrsetInput[] {
  const zone = normalizeDomain(input.zone.replace(/\.$/, ""));
  if (zone === null) throw new RangeError(`zoneTemplate: invalid zone ${JSON.stringify(input.zone)}`);
  const mailHost = input.mailHost === undefined ? `mail.${zone}` : normalizeDomain(input.mailHost.replace(/\.$/, ""));
  if (mailHost === null) throw new RangeError(`zoneTemplate: invalid mailHost ${JSON.stringify(input.mailHost)}`);
  const ttl = input.ttl ?? 3600;
  const rrset = (name: string, type: RecordType, records: string[]): RrsetInput => ({ name: `${name}.`, type, ttl, records });
  const web = { ipv4: input.ipv4, ipv6: input.ipv6 };
  const hosts: Array<[string, { ipv4: string; ipv6: string | undefined }]> = [[zone, web], [`www.${zone}`, web]];
  if (mailHost.endsWith(`.${zone}`) && mailHost !== `www.${zone}`) {
    hosts.push([mailHost, input.mailIpv4 === undefined ? web : { ipv4: input.mailIpv4, ipv6: input.mailIpv6 }]);
  }
  return [
    ...hosts.flatMap(([host, ip]) => [rrset(host, "A", [ip.ipv4]), ...(ip.ipv6 === undefined ? [] : [rrset(host, "AAAA", [ip.ipv6])])]),
    rrset(zone, "MX", [`10 ${mailHost}.`]),
    rrset(zone, "TXT", [txtContent(input.spf ?? "v=spf1 mx a -all")]),
    ...(input.dkim ? [rrset(`${input.dkim.selector}._domainkey.${zone}`, "TXT", [txtContent(`v=DKIM1; k=rsa; p=${input.dkim.publicKey}`)])] : []),
    rrset(`_dmarc.${zone}`, "TXT", [txtContent(input.dmarc ?? `v=DMARC1; p=quarantine; rua=mailto:postmaster@${zone}`)]),
  ];
}
