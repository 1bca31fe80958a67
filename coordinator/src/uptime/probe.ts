import { lookup as dnsLookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";

/** The outcome of one probe: the status code and latency to the response head (ms), or the error. */
export interface ProbeResult {
  ok: boolean;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
}

/** What a probe is asked to do. `expectStatus` null = any 2xx or 3xx counts as up (redirects are not followed). */
export interface ProbeTarget {
  url: string;
  timeoutMs: number;
  expectStatus: number | null;
}

/**
 * Address ranges a probe never connects to unless the operator pinned the host to them
 * (`MPANEL_UPTIME_RESOLVE`): loopback, private (RFC 1918, RFC 4193), link-local, CGNAT
 * (RFC 6598), "this network", multicast and their IPv4-mapped forms. A tenant controls its
 * domain's DNS, so without this an uptime check would be a way to reach the coordinator's own
 * network (server-side request forgery).
 */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12], ["192.168.0.0", 16], ["224.0.0.0", 4], ["240.0.0.0", 4]] as const) {
  NON_PUBLIC.addSubnet(net, prefix, "ipv4");
  NON_PUBLIC.addSubnet(`::ffff:${net}`, 96 + prefix, "ipv6");
}
for (const [net, prefix] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8]] as const) NON_PUBLIC.addSubnet(net, prefix, "ipv6");

/** Whether `address` (an IPv4 or IPv6 literal) is a public unicast address a probe may reach. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return !NON_PUBLIC.check(address, family === 4 ? "ipv4" : "ipv6");
}

/**
 * Parses `MPANEL_UPTIME_RESOLVE`: comma-separated `host=address` pins (like curl's --resolve),
 * for split-horizon setups where the coordinator must reach sites at an internal address, and
 * for tests on loopback. Pinned addresses are trusted (they come from the operator). Throws on
 * a malformed entry, naming it.
 */
export function parseResolvePins(value: string): Map<string, string> {
  const pins = new Map<string, string>();
  for (const entry of value.split(",").map((e) => e.trim()).filter(Boolean)) {
    const [host, address] = entry.split("=");
    if (!host || !address || isIP(address) === 0) throw new Error(`MPANEL_UPTIME_RESOLVE: "${entry}" is not host=address`);
    pins.set(host.toLowerCase(), address);
  }
  return pins;
}

/**
 * Resolves `host` for a probe: a pinned address as is, else DNS (all addresses), refusing when
 * any resolved address is not public. Throws Error with the reason (shown as the probe's error).
 */
async function resolveTarget(host: string, pins: ReadonlyMap<string, string>): Promise<{ address: string; family: 4 | 6 }> {
  const pinned = pins.get(host.toLowerCase());
  if (pinned) return { address: pinned, family: isIP(pinned) === 6 ? 6 : 4 };
  const literal = isIP(host);
  const addresses = literal ? [{ address: host, family: literal }] : await dnsLookup(host, { all: true });
  const refused = addresses.find((a) => !isPublicAddress(a.address));
  if (refused) throw new Error(`${host} resolves to a non-public address (${refused.address})`);
  const first = addresses[0];
  if (!first) throw new Error(`${host} has no address`);
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}

/**
 * GETs `target.url` once (HTTP/1.1, no redirects followed, TLS verified against the system's
 * roots with SNI = the URL's host) and reports whether it is up: an answer within
 * `target.timeoutMs` whose status is `expectStatus`, or any 2xx/3xx when that is null. The
 * latency is the time from the request's start (DNS included) to the response head, in ms. The
 * body is read and discarded. Never throws: failures are in `error` (DNS, refused address,
 * connection, TLS, timeout).
 */
export async function probe(target: ProbeTarget, pins: ReadonlyMap<string, string>): Promise<ProbeResult> {
  const started = performance.now();
  const url = new URL(target.url);
  const signal = AbortSignal.timeout(target.timeoutMs);
  try {
    const resolved = await resolveTarget(url.hostname.replace(/^\[|\]$/g, ""), pins);
    const lookup: LookupFunction = (_host, options, callback) => {
      if (options.all) callback(null, [resolved]);
      else callback(null, resolved.address, resolved.family);
    };
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, { method: "GET", lookup, agent: false, signal, headers: { "user-agent": "mPanel-uptime/1", accept: "*/*" } }, resolve);
      req.on("error", reject);
      req.end();
    });
    const latencyMs = Math.round(performance.now() - started);
    res.resume();
    await new Promise<void>((resolve) => {
      res.on("end", resolve);
      res.on("error", () => resolve());
      res.on("close", resolve);
    });
    const statusCode = res.statusCode ?? 0;
    const ok = target.expectStatus === null ? statusCode >= 200 && statusCode < 400 : statusCode === target.expectStatus;
    return { ok, statusCode, latencyMs, error: ok ? null : `HTTP ${statusCode}` };
  } catch (error) {
    const message = signal.aborted ? `no answer within ${target.timeoutMs} ms` : error instanceof Error ? error.message : String(error);
    return { ok: false, statusCode: null, latencyMs: null, error: message.slice(0, 500) };
  }
}
