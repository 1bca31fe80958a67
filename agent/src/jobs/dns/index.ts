import type { JobType } from "@mpanel/proto";
import type { JobHandler } from "../define";
import { deleteDnsZone, dnsZoneSync } from "./zone";

/** Handlers of the dns role (PowerDNS Authoritative through its HTTP API). */
export const dnsHandlers = {
  DNS_ZONE_SYNC: dnsZoneSync,
  DELETE_DNS_ZONE: deleteDnsZone,
} satisfies { [T in JobType]?: JobHandler<T> };
