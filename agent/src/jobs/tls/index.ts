import type { JobType } from "@mpanel/proto";
import { defineJob, type JobHandler } from "../define";
import { obtainCertificate } from "./certificate-job";

/** ISSUE_SSL: obtains and installs a certificate unless a fresh one for the same names is installed (see obtainCertificate). */
export const issueSsl = defineJob({ type: "ISSUE_SSL", run: (payload, ctx) => obtainCertificate("issue", payload, ctx) });

/** RENEW_SSL: always orders a new certificate and swaps it in without downtime (see obtainCertificate). */
export const renewSsl = defineJob({ type: "RENEW_SSL", run: (payload, ctx) => obtainCertificate("renew", payload, ctx) });

/** Handlers of the TLS part of the web role. */
export const tlsHandlers = {
  ISSUE_SSL: issueSsl,
  RENEW_SSL: renewSsl,
} satisfies { [T in JobType]?: JobHandler<T> };
