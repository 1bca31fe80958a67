import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { NginxError } from "../../drivers/nginx";
import { defineJob, JobError } from "../define";
import { docRoot, serverBlockFile } from "./paths";
import { renderServerBlock } from "./server-block";

function placeholderPage(domain: string): string {
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${domain}</title></head>\n<body><h1>${domain}</h1><p>This site is hosted by mPanel. Upload your files to replace this page.</p></body></html>\n`;
}

/**
 * CREATE_WEBSITE: ensures the document root (with a placeholder index.html if it has none) and
 * the site's server block, applied safely by the nginx driver (write beside, `nginx -t`, swap,
 * reload, wait until it serves, restore on failure). nginx's own error text goes into the
 * job's events; a config nginx rejects fails the job without retry.
 */
export const createWebsite = defineJob({
  type: "CREATE_WEBSITE",
  async run(spec, ctx) {
    const root = docRoot(ctx.config, spec.systemUser, spec.domain);
    await mkdir(root, { recursive: true, mode: 0o755 });
    await writeFile(`${root}/index.html`, placeholderPage(spec.domain), { flag: "wx" }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    const block = renderServerBlock({ websiteId: spec.websiteId, domain: spec.domain, aliases: spec.aliases, listen: ctx.config.nginx.listen, root });
    try {
      const outcome = await ctx.services.nginx.apply(serverBlockFile(spec.domain), block.content, { host: spec.domain, revision: block.revision });
      ctx.event("info", `server block ${outcome}; serving revision ${block.revision}`, 100);
      return { revision: block.revision, outcome };
    } catch (error) {
      if (error instanceof NginxError) {
        ctx.event("error", `nginx: ${error.output.trim() || error.message}`);
        throw new JobError(`nginx_${error.code}`, error.message, error.code !== "config_rejected" && error.code !== "invalid_argument", { cause: error });
      }
      throw error;
    }
  },
});

/** DELETE_WEBSITE: removes the server block (reload, wait until it no longer serves) and the site's files. */
export const deleteWebsite = defineJob({
  type: "DELETE_WEBSITE",
  async run(spec, ctx) {
    const outcome = await ctx.services.nginx.remove(serverBlockFile(spec.domain), { host: spec.domain });
    await rm(dirname(docRoot(ctx.config, spec.systemUser, spec.domain)), { recursive: true, force: true });
    ctx.event("info", `server block ${outcome}; files removed`, 100);
    return { outcome };
  },
});
