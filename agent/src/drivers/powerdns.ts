import type { Rrset } from "@mpanel/proto";
import { execa } from "execa";
import type { Logger } from "pino";
import { z } from "zod";
import { planZone, soaContent, type ApiRrset, type RrsetChange } from "./powerdns-plan";

/**
 * How the agent reaches PowerDNS Authoritative 4.x's HTTP API (https://doc.powerdns.com/authoritative/http-api/).
 * `apiKey` is a secret: no default, never logged.
 */
export const PowerDnsConfig = z.strictObject({
  /** Base URL of the API webserver (`webserver-address`/`webserver-port`), e.g. "http://127.0.0.1:8081". */
  apiUrl: z.url({ protocol: /^https?$/ }).default("http://127.0.0.1:8081"),
  /** The `api-key` setting. */
  apiKey: z.string().min(16).max(256),
  /** Server id in API paths; PowerDNS Authoritative only knows "localhost". */
  serverId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).default("localhost"),
  /** SOA-EDIT-API kind set on every zone: how each API change bumps the SOA serial (DEFAULT = YYYYMMDDnn). */
  soaEditApi: z.enum(["DEFAULT", "INCREASE", "EPOCH"]).default("DEFAULT"),
  /** SOA RNAME as a host name (e.g. "hostmaster.example.net"); default `hostmaster.<zone>`. */
  hostmaster: z.string().regex(/^[a-z0-9][a-z0-9.-]{0,251}[a-z0-9]$/).optional(),
  /** TTL of the SOA and apex NS rrsets, seconds. */
  ttl: z.number().int().min(60).max(604_800).default(3600),
  /** Per-request timeout, ms. */
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** When set, each changed zone is checked with `pdnsutil --config-dir=<configDir> check-zone` (same host, same backend). */
  pdnsutil: z.strictObject({ binary: z.string().startsWith("/").default("/usr/bin/pdnsutil"), configDir: z.string().startsWith("/") }).optional(),
});
export type PowerDnsConfig = z.output<typeof PowerDnsConfig>;

/** Why a PowerDNS operation failed; callers branch on this, never on the message. */
export type PowerDnsErrorCode =
  | "invalid_argument" // a zone name the driver refuses before calling the API
  | "rejected" // PowerDNS refused the change (HTTP 400/422): nothing was applied
  | "unauthorized" // wrong api-key (HTTP 401/403)
  | "unavailable" // no connection, a timeout or HTTP 5xx: worth retrying
  | "unexpected"; // an answer the driver does not understand

/** The one error type of the PowerDNS driver. `output` is PowerDNS's own error text (its `error` field or body), or "". */
export class PowerDnsError extends Error {
  override readonly name = "PowerDnsError";

  constructor(readonly code: PowerDnsErrorCode, message: string, readonly output = "", options?: ErrorOptions) {
    super(message, options);
  }
}

/** The whole desired state of one zone (the DNS_ZONE_SYNC payload): `zone` without the trailing dot, parsed rrsets. */
export interface DesiredZone {
  zone: string;
  nameservers: readonly string[];
  rrsets: readonly Rrset[];
}

/** What `syncZone` did: how many rrsets it replaced and deleted, and the SOA serial now served. */
export interface ZoneSyncResult {
  outcome: "created" | "changed" | "unchanged";
  serial: number;
  replaced: number;
  deleted: number;
  /** `pdnsutil check-zone` warnings and errors after a change (empty when none or not configured). */
  problems: string[];
}

/**
 * Converges zones of one PowerDNS Authoritative server through its HTTP API. Operations of one
 * driver run one after another (in-process queue). Zone names are host names without the
 * trailing dot (`Domain` rules).
 */
export interface PowerDns {
  /** The server's version, e.g. "4.7.3". Throws PowerDnsError. */
  version(): Promise<string>;
  /** The zone's rrsets (SOA included) and SOA serial, or null when the server has no such zone. Throws PowerDnsError. */
  getZone(zone: string): Promise<{ rrsets: ApiRrset[]; serial: number } | null>;
  /**
   * Makes the zone hold exactly `desired`: creates it (Native, SOA-EDIT-API set) when absent, else
   * sends one PATCH that deletes rrsets not desired and replaces the ones that differ; sends
   * nothing when all match (so the serial stays). PowerDNS applies a PATCH in one transaction, so
   * a rejected change leaves the zone as it was. Throws PowerDnsError.
   */
  syncZone(desired: DesiredZone): Promise<ZoneSyncResult>;
  /** Deletes the zone and all its records; "absent" when there was none. Throws PowerDnsError. */
  deleteZone(zone: string): Promise<"deleted" | "absent">;
}

const ZONE = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;
const ApiZone = z.object({
  soa_edit_api: z.string(),
  rrsets: z.array(z.object({ name: z.string(), type: z.string(), ttl: z.number(), records: z.array(z.object({ content: z.string(), disabled: z.boolean() })) })),
});
const PDNSUTIL_TIMEOUT_MS = 30_000;
/** What `call` returns for a 404 the caller allowed. */
const MISSING = Symbol("missing");

/** The SOA serial in `rrsets`, or 0 when there is no SOA. */
function serialOf(rrsets: readonly ApiRrset[]): number {
  const soa = rrsets.find((r) => r.type === "SOA")?.records[0]?.content;
  return Number(soa?.split(/\s+/)[2] ?? 0);
}

/**
 * Builds the driver; nothing is contacted until the first call. `log` gets a child logger
 * (component "powerdns"); record content and the key are never logged.
 */
export function createPowerDns(cfg: PowerDnsConfig, parentLog: Logger): PowerDns {
  const log = parentLog.child({ component: "powerdns" });
  const base = `${cfg.apiUrl.replace(/\/+$/, "")}/api/v1/servers/${encodeURIComponent(cfg.serverId)}`;

  let tail: Promise<unknown> = Promise.resolve();
  const serialize = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  };

  /** One API call; resolves to the parsed JSON body (null for an empty one), or MISSING for a 404 when `allowMissing`. */
  const call = async (method: string, path: string, body?: unknown, allowMissing = false): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { "X-API-Key": cfg.apiKey, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(cfg.timeoutMs),
      });
    } catch (error) {
      throw new PowerDnsError("unavailable", `PowerDNS API unreachable: ${(error as Error).message}`, "", { cause: error });
    }
    const text = await res.text().catch(() => "");
    if (res.status === 404 && allowMissing) return MISSING;
    if (!res.ok) {
      let output = text.trim().slice(0, 2_000);
      try {
        output = z.object({ error: z.string() }).parse(JSON.parse(text)).error;
      } catch {
        // not PowerDNS's JSON error object: keep the body text
      }
      const code: PowerDnsErrorCode = res.status === 400 || res.status === 422 ? "rejected" : res.status === 401 || res.status === 403 ? "unauthorized" : res.status >= 500 ? "unavailable" : "unexpected";
      throw new PowerDnsError(code, `PowerDNS ${method} ${path} answered ${res.status}: ${output}`, output);
    }
    if (text.length === 0) return null;
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new PowerDnsError("unexpected", `PowerDNS ${method} ${path} answered with invalid JSON`, text.slice(0, 2_000), { cause: error });
    }
  };

  const zonePath = (zone: string): string => {
    if (!ZONE.test(zone)) throw new PowerDnsError("invalid_argument", `invalid zone name: ${JSON.stringify(zone)}`);
    return `/zones/${encodeURIComponent(`${zone}.`)}`;
  };

  const fetchZone = async (zone: string) => {
    const body = await call("GET", zonePath(zone), undefined, true);
    if (body === MISSING) return null;
    const parsed = ApiZone.safeParse(body);
    if (!parsed.success) throw new PowerDnsError("unexpected", `PowerDNS zone ${zone} has an unexpected shape`, parsed.error.message);
    return parsed.data;
  };

  const checkZone = async (zone: string): Promise<string[]> => {
    if (!cfg.pdnsutil) return [];
    const r = await execa(cfg.pdnsutil.binary, [`--config-dir=${cfg.pdnsutil.configDir}`, "check-zone", zone], { reject: false, stdin: "ignore", timeout: PDNSUTIL_TIMEOUT_MS });
    const lines = `${r.stdout}\n${r.stderr}`.split("\n").map((l) => l.trim());
    const problems = lines.filter((l) => /^\[(Warning|Error)\]/.test(l));
    if (r.exitCode !== 0 && problems.length === 0) problems.push(r.stderr.trim() || r.shortMessage || "pdnsutil check-zone failed");
    if (problems.length > 0) log.warn({ zone, problems }, "pdnsutil check-zone found problems");
    return problems;
  };

  /** Drops the zone's answers from the packet cache: PowerDNS does not on zone creation, so a REFUSED cached before would linger (cache-ttl). */
  const flushCache = (zone: string) => call("PUT", `/cache/flush?domain=${encodeURIComponent(`${zone}.`)}`);

  const toApi = (c: RrsetChange) => ({ ...c, records: c.records?.map((content) => ({ content, disabled: false })) });

  return {
    async version() {
      const body = z.object({ version: z.string() }).safeParse(await call("GET", ""));
      if (!body.success) throw new PowerDnsError("unexpected", "PowerDNS server object has no version");
      return body.data.version;
    },

    getZone: (zone) =>
      serialize(async () => {
        const current = await fetchZone(zone);
        return current && { rrsets: current.rrsets, serial: serialOf(current.rrsets) };
      }),

    syncZone: (desired) =>
      serialize(async () => {
        const soa = { mname: `${desired.nameservers[0] ?? ""}.`, rname: `${cfg.hostmaster ?? `hostmaster.${desired.zone}`}.` };
        const opts = { zone: desired.zone, nameservers: desired.nameservers, rrsets: desired.rrsets, soa, ttl: cfg.ttl };
        const current = await fetchZone(desired.zone);
        let outcome: ZoneSyncResult["outcome"];
        let changes: RrsetChange[];
        if (current === null) {
          changes = planZone([], opts);
          const soaRrset: RrsetChange = { name: `${desired.zone}.`, type: "SOA", ttl: cfg.ttl, changetype: "REPLACE", records: [soaContent(soa, 0)] };
          const rrsets = [soaRrset, ...changes].map(toApi).map(({ changetype: _changetype, ...rrset }) => rrset);
          await call("POST", "/zones", { name: `${desired.zone}.`, kind: "Native", soa_edit_api: cfg.soaEditApi, nameservers: [], rrsets });
          await flushCache(desired.zone);
          outcome = "created";
        } else {
          if (current.soa_edit_api !== cfg.soaEditApi) await call("PUT", zonePath(desired.zone), { soa_edit_api: cfg.soaEditApi });
          changes = planZone(current.rrsets, opts);
          if (changes.length > 0) await call("PATCH", zonePath(desired.zone), { rrsets: changes.map(toApi) });
          outcome = changes.length > 0 ? "changed" : "unchanged";
        }
        const after = outcome === "unchanged" ? current : await fetchZone(desired.zone);
        const result: ZoneSyncResult = {
          outcome,
          serial: serialOf(after?.rrsets ?? []),
          replaced: changes.filter((c) => c.changetype === "REPLACE").length,
          deleted: changes.filter((c) => c.changetype === "DELETE").length,
          problems: outcome === "unchanged" ? [] : await checkZone(desired.zone),
        };
        log.info({ zone: desired.zone, outcome, serial: result.serial, replaced: result.replaced, deleted: result.deleted }, "powerdns zone synced");
        return result;
      }),

    deleteZone: (zone) =>
      serialize(async () => {
        const outcome = (await call("DELETE", zonePath(zone), undefined, true)) === MISSING ? "absent" : "deleted";
        log.info({ zone, outcome }, "powerdns zone deleted");
        return outcome;
      }),
  };
}
