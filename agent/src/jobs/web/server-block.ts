import { createHash } from "node:crypto";
import { JobError } from "../define";

/** The HTTPS half of a site: where its server listens and its certificate files. */
export interface ServerBlockTls {
  /** nginx `listen` value (address:port) of the HTTPS server. */
  listen: string;
  /** PEM chain and key paths (see certificatePaths). */
  certificate: string;
  privateKey: string;
  /** A digest of the certificate's content; it changes the config text, so a renewed certificate reloads nginx. */
  certificateDigest: string;
}

/** What a server block is made of; names are schema-checked before they get here, paths are checked by `quote`. */
export interface ServerBlockSpec {
  websiteId: string;
  domain: string;
  aliases: string[];
  /** nginx `listen` value of the plain HTTP server. */
  listen: string;
  /** Document root. */
  root: string;
  /** Served at `/.well-known/acme-challenge/` over plain HTTP (RFC 8555 section 8.3). */
  acmeWebroot: string;
  /** With a pool socket, `.php` goes to it; without (static runtime), `.php` is refused so source never leaks. */
  php: { socket: string } | null;
  /** Answer 503 with a "suspended" page (except the well-known locations). */
  suspended: boolean;
  /** With TLS, HTTP redirects to HTTPS (except the well-known locations). */
  tls: ServerBlockTls | null;
}

const REVISION_TOKEN = "@@MPANEL_REVISION@@";
const FASTCGI_PARAMS = "/etc/nginx/fastcgi_params";
const SUSPENDED_PAGE = "<!doctype html><html><head><meta charset=utf-8><title>Suspended</title></head><body><h1>This site is suspended</h1><p>Please contact the site owner or your hosting provider.</p></body></html>";
const SAFE_PATH = /^\/[^\s"'\\$;{}#]*$/;

/** `path` unchanged; throws a non-retryable JobError("invalid_config") for anything nginx would read as syntax or a variable. */
function safePath(path: string): string {
  if (!SAFE_PATH.test(path)) throw new JobError("invalid_config", `unsafe path for an nginx config: ${JSON.stringify(path)}`, false);
  return path;
}

/** A checked path as a double-quoted nginx string. */
function quote(path: string): string {
  return `"${safePath(path)}"`;
}

/** `https://$host[:port]` for a TLS `listen` value such as "443", "127.0.0.1:8443" or "[::]:443". */
function httpsOrigin(listenTls: string): string {
  const port = /(?:^|:)(\d{1,5})$/.exec(listenTls)?.[1] ?? "443";
  return port === "443" ? "https://$host" : `https://$host:${port}`;
}

/** The locations answering the site's content (or the suspended page), shared by the HTTP and HTTPS servers. */
function siteLocations(spec: ServerBlockSpec): string[] {
  if (spec.suspended) {
    return ["    location / {", "        default_type text/html;", `        return 503 "${SUSPENDED_PAGE}";`, "    }"];
  }
  const common = [`    root ${quote(spec.root)};`, `    index ${spec.php ? "index.php " : ""}index.html index.htm;`, "    location / {", "        try_files $uri $uri/ =404;", "    }"];
  if (!spec.php) return [...common, "    location ~* \\.php$ {", "        return 403;", "    }"];
  return [
    ...common,
    "    location ~ \\.php$ {",
    "        try_files $uri =404;",
    `        fastcgi_pass "unix:${safePath(spec.php.socket)}";`,
    `        include ${FASTCGI_PARAMS};`,
    "        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;",
    "    }",
  ];
}

/**
 * Renders a site's nginx config (nginx http core, fastcgi and ssl modules): a plain HTTP server
 * on `listen` that always serves `/.well-known/acme-challenge/` from the ACME webroot and
 * `/.well-known/mpanel-revision` (a hash of the whole text, which is how the driver knows the new
 * config serves); then either the site itself, or with `tls` a 301 to HTTPS plus an HTTPS server
 * on `tls.listen` with the site. `server_name` lists the domain and every alias.
 * Returns the config text and its revision (16 hex digits).
 * Throws JobError("invalid_config", non-retryable) for a path that is unsafe to put in a config.
 */
export function renderServerBlock(spec: ServerBlockSpec): { content: string; revision: string } {
  const names = `    server_name ${[spec.domain, ...spec.aliases].join(" ")};`;
  const http = [
    "server {",
    `    listen ${spec.listen};`,
    names,
    "    location ^~ /.well-known/acme-challenge/ {",
    `        root ${quote(spec.acmeWebroot)};`,
    "    }",
    "    location = /.well-known/mpanel-revision {",
    "        default_type text/plain;",
    `        return 200 "${REVISION_TOKEN}";`,
    "    }",
    ...(spec.tls ? ["    location / {", `        return 301 ${httpsOrigin(spec.tls.listen)}$request_uri;`, "    }"] : siteLocations(spec)),
    "}",
  ];
  const https = spec.tls
    ? [
        `# certificate sha256 ${spec.tls.certificateDigest}`,
        "server {",
        `    listen ${spec.tls.listen} ssl;`,
        names,
        `    ssl_certificate ${quote(spec.tls.certificate)};`,
        `    ssl_certificate_key ${quote(spec.tls.privateKey)};`,
        ...siteLocations(spec),
        "}",
      ]
    : [];
  const template = [`# managed by mPanel: website ${spec.websiteId}; changes here are overwritten`, ...http, ...https, ""].join("\n");
  const revision = createHash("sha256").update(template).digest("hex").slice(0, 16);
  return { content: template.replace(REVISION_TOKEN, revision), revision };
}
