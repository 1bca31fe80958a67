import { requireService } from "../../services";
import { defineJob } from "../define";
import { withMailErrors } from "./errors";

/**
 * PROVISION_EMAIL_DOMAIN: Postfix accepts mail for the domain, and its DKIM key pair exists on
 * this node. Returns `{ dkimSelector, dkimPublicKey }` (base64 SPKI DER; the same key on re-run)
 * for the coordinator to publish as `<selector>._domainkey.<domain> TXT "v=DKIM1; k=rsa; p=..."`.
 */
export const provisionEmailDomain = defineJob({
  type: "PROVISION_EMAIL_DOMAIN",
  async run(spec, ctx) {
    const mail = requireService(ctx.services, "mail");
    const result = await withMailErrors(ctx, () => mail.ensureDomain(spec.domain, spec.dkimSelector));
    ctx.event("info", `mail domain ${spec.domain} ${result.outcome}`, 100);
    return { dkimSelector: result.dkimSelector, dkimPublicKey: result.dkimPublicKey };
  },
});

/** DELETE_EMAIL_DOMAIN: stops accepting the domain; deletes its mailboxes (and their mail), aliases and DKIM keys. */
export const deleteEmailDomain = defineJob({
  type: "DELETE_EMAIL_DOMAIN",
  async run(spec, ctx) {
    const mail = requireService(ctx.services, "mail");
    const outcome = await withMailErrors(ctx, () => mail.removeDomain(spec.domain));
    ctx.event("info", `mail domain ${spec.domain} ${outcome}`, 100);
    return { outcome };
  },
});
