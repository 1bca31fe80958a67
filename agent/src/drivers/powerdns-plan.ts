import { checkRecordContent, RecordType, type Rrset } from "@mpanel/proto";

/** An rrset as PowerDNS's API returns it (GET /zones/<zone>): absolute names, content as stored. */
export interface ApiRrset {
  name: string;
  type: string;
  ttl: number;
  records: { content: string; disabled: boolean }[];
}

/** One entry of a PATCH's `rrsets` (records as content strings; the driver adds `disabled: false`). */
export interface RrsetChange {
  name: string;
  type: string;
  changetype: "REPLACE" | "DELETE";
  ttl?: number;
  records?: string[];
}

/** The SOA's MNAME (primary nameserver) and RNAME (hostmaster mailbox), absolute with the trailing dot. */
export interface SoaNames {
  mname: string;
  rname: string;
}

/** Refresh, retry, expire and negative-caching TTL (seconds) of a new zone's SOA (RFC 1912 section 2.2 ranges). */
const SOA_TIMERS = "10800 3600 604800 3600";

/** SOA content `<mname> <rname> <serial> <refresh> <retry> <expire> <minimum>` (RFC 1035 section 3.3.13). */
export function soaContent(soa: SoaNames, serial: number, timers = SOA_TIMERS): string {
  return `${soa.mname} ${soa.rname} ${serial} ${timers}`;
}

/** `content` in `checkRecordContent`'s canonical form when it passes, else as PowerDNS stored it (so it differs). */
function canonical(type: string, content: string): string {
  const known = RecordType.safeParse(type);
  if (!known.success) return content;
  const checked = checkRecordContent(known.data, content);
  return "content" in checked ? checked.content : content;
}

const key = (name: string, type: string) => `${name.toLowerCase()} ${type}`;

/**
 * The changes that make a zone holding `current` hold exactly `desired.rrsets` plus the apex NS
 * rrset (`desired.nameservers`, TTL `desired.ttl`) and an SOA naming `desired.soa`: DELETE for
 * every rrset not desired (SOA aside), REPLACE for every desired rrset whose TTL or record set
 * differs (content compared in canonical form, disabled records count as different), and a
 * REPLACE of the SOA keeping its serial and timers when its names or TTL differ (only when
 * `current` has an SOA). Deletions come first so a name can change from other types to a CNAME
 * in one PATCH. Empty when nothing differs. Names are absolute; `desired.zone` has no trailing dot.
 */
export function planZone(
  current: readonly ApiRrset[],
  desired: { zone: string; nameservers: readonly string[]; rrsets: readonly Rrset[]; soa: SoaNames; ttl: number },
): RrsetChange[] {
  const apex = `${desired.zone}.`;
  const wanted = new Map<string, { name: string; type: string; ttl: number; records: string[] }>();
  wanted.set(key(apex, "NS"), { name: apex, type: "NS", ttl: desired.ttl, records: [...new Set(desired.nameservers.map((ns) => `${ns}.`))] });
  for (const rrset of desired.rrsets) wanted.set(key(rrset.name, rrset.type), rrset);

  const have = new Map(current.map((rrset) => [key(rrset.name, rrset.type), rrset]));
  const deletes: RrsetChange[] = current
    .filter((rrset) => rrset.type !== "SOA" && !wanted.has(key(rrset.name, rrset.type)))
    .map((rrset) => ({ name: rrset.name, type: rrset.type, changetype: "DELETE" }));

  const replaces: RrsetChange[] = [];
  for (const [k, rrset] of wanted) {
    const now = have.get(k);
    const same =
      now !== undefined &&
      now.ttl === rrset.ttl &&
      now.records.every((r) => !r.disabled) &&
      sameSet(now.records.map((r) => canonical(rrset.type, r.content)), rrset.records);
    if (!same) replaces.push({ name: rrset.name, type: rrset.type, changetype: "REPLACE", ttl: rrset.ttl, records: rrset.records });
  }

  const soa = have.get(key(apex, "SOA"));
  const fields = soa?.records[0]?.content.split(/\s+/) ?? [];
  if (soa && (fields.length !== 7 || fields[0]?.toLowerCase() !== desired.soa.mname || fields[1]?.toLowerCase() !== desired.soa.rname || soa.ttl !== desired.ttl)) {
    const timers = fields.length === 7 ? fields.slice(3).join(" ") : SOA_TIMERS;
    replaces.push({ name: apex, type: "SOA", changetype: "REPLACE", ttl: desired.ttl, records: [soaContent(desired.soa, Number(fields[2] ?? 0) || 0, timers)] });
  }
  const order = (a: RrsetChange, b: RrsetChange) => a.name.localeCompare(b.name) || a.type.localeCompare(b.type);
  return [...deletes.sort(order), ...replaces.sort(order)];
}

/** Whether two lists hold the same strings, ignoring order and repeats. */
function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
}
