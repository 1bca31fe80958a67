import { createHash } from "node:crypto";

/** What a static site's server block is made of; every value is schema-checked before it gets here. */
export interface ServerBlockSpec {
  websiteId: string;
  domain: string;
  aliases: string[];
  listen: string;
  root: string;
}

/**
 * Renders an nginx server block for a static site (nginx http core module: `server`,
 * `server_name`, `root`, `try_files`). It answers `/.well-known/mpanel-revision` with a hash of
 * its own content, which is how the driver knows the new config serves. Returns the config
 * text and that revision.
 */
export function renderServerBlock(spec: ServerBlockSpec): { content: string; revision: string } {
  const body = [
    `    listen ${spec.listen};`,
    `    server_name ${[spec.domain, ...spec.aliases].join(" ")};`,
    `    root "${spec.root}";`,
    "    index index.html index.htm;",
    "    location / {",
    "        try_files $uri $uri/ =404;",
    "    }",
  ].join("\n");
  const revision = createHash("sha256").update(body).digest("hex").slice(0, 16);
  const content = [
    `# managed by mPanel: website ${spec.websiteId}; changes here are overwritten`,
    "server {",
    body,
    "    location = /.well-known/mpanel-revision {",
    "        default_type text/plain;",
    `        return 200 "${revision}";`,
    "    }",
    "}",
    "",
  ].join("\n");
  return { content, revision };
}
