import { requireService } from "../../services";
import { defineJob } from "../define";
import { withMailErrors } from "./errors";

/** CREATE_MAIL_ALIAS: ensures `localPart@domain` forwards to exactly `destinations`. */
export const createMailAlias = defineJob({
  type: "CREATE_MAIL_ALIAS",
  async run(spec, ctx) {
    const mail = requireService(ctx.services, "mail");
    const outcome = await withMailErrors(ctx, () => mail.ensureAlias(spec.domain, spec.localPart, spec.destinations));
    ctx.event("info", `alias ${spec.localPart}@${spec.domain} ${outcome}`, 100);
    return { outcome };
  },
});

/** DELETE_MAIL_ALIAS: removes the alias (mail to it is then refused as an unknown user). */
export const deleteMailAlias = defineJob({
  type: "DELETE_MAIL_ALIAS",
  async run(spec, ctx) {
    const mail = requireService(ctx.services, "mail");
    const outcome = await withMailErrors(ctx, () => mail.removeAlias(spec.domain, spec.localPart));
    ctx.event("info", `alias ${spec.localPart}@${spec.domain} ${outcome}`, 100);
    return { outcome };
  },
});
