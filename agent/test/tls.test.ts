import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { CertificateResult, jobPayloads, type JobPayload } from "@mpanel/proto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAgentConfig, type AgentConfig } from "../src/config";
import { createAcme, problemError } from "../src/drivers/acme";
import { freePort } from "../src/drivers/free-port";
import { httpGet } from "../src/drivers/nginx";
import { startPrivateNginx, type PrivateNginx } from "../src/drivers/nginx-instance";
import { startPrivatePebble, type PrivatePebble } from "../src/drivers/pebble-instance";
import { JobError, type JobContext } from "../src/jobs/define";
import { tlsHandlers } from "../src/jobs/tls/index";
import { challengeDir } from "../src/jobs/tls/webroot";
import { certificatePaths, docRoot } from "../src/jobs/web/paths";
import { createServices } from "../src/services";

const log = pino({ level: "silent" });

/** What an HTTPS client sees: status, body and the serial (lowercase hex, no leading zeros) of the certificate the server presented. */
interface HttpsAnswer {
  status: number;
  body: string;
  serial: string;
}

/** One GET over a fresh TLS connection to 127.0.0.1:`port` with SNI and Host = `host`, trusting only `ca`. Rejects on any TLS or network error. */
function httpsGet(port: number, host: string, ca: string): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", servername: host, headers: { host }, ca, agent: false, timeout: 5_000 }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, "");
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, serial }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** The thrown error, asserted to be a JobError. */
async function jobError(p: Promise<unknown>): Promise<JobError> {
  const error = await p.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(JobError);
  return error as JobError;
}

/** Hex serial without leading zeros, as TLS peers report it. */
const serialOf = (result: CertificateResult) => result.serial.toLowerCase().replace(/^0+/, "");

describe("ISSUE_SSL / RENEW_SSL against a private Pebble and nginx", () => {
  const tag = randomBytes(4).toString("hex");
  const domain = `shop-${tag}.test`;
  const alias = `www.shop-${tag}.test`;
  const unreachable = `broken-${tag}.test`;
  const page = `<h1>shop ${tag}</h1>\n`;
  let prefix: string;
  let nginx: PrivateNginx;
  let pebble: PrivatePebble;
  let config: AgentConfig;
  let ctx: JobContext;
  let root: string;
  let tlsPort: number;
  const site = { websiteId: randomUUID(), cloudPodId: randomUUID(), systemUser: "tlstest", domain, aliases: [alias, unreachable], runtime: "static", suspended: false, tls: false };
  const payload = (domains: string[]): JobPayload<"ISSUE_SSL"> => jobPayloads.ISSUE_SSL.parse({ certificateId: randomUUID(), site, domains });

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-tls-"));
    const httpPort = await freePort();
    tlsPort = await freePort();
    nginx = await startPrivateNginx({ prefix: join(prefix, "nginx"), port: httpPort, tlsPort });
    pebble = await startPrivatePebble({ prefix, httpPort });
    config = parseAgentConfig({
      coordinator: "127.0.0.1:1",
      stateDir: join(prefix, "state"),
      podsRoot: join(prefix, "pods"),
      acmeWebroot: join(prefix, "acme"),
      nginx: { ...nginx.driverConfig, listen: `127.0.0.1:${httpPort}`, listenTls: `127.0.0.1:${tlsPort}`, reloadTimeoutMs: 5_000 },
      acme: pebble.acmeConfig,
      logLevel: "silent",
    });
    ctx = { config, services: createServices(config, log), event: () => undefined, log, signal: new AbortController().signal };
    const documents = docRoot(config, site.systemUser, domain);
    await mkdir(documents, { recursive: true });
    await writeFile(join(documents, "index.html"), page);
    root = await pebble.fetchRoot();
  });

  afterAll(async () => {
    await pebble?.stop();
    await nginx?.stop();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("issues a certificate that verifies against Pebble's root, serves the site over HTTPS and redirects HTTP", async () => {
    const result = CertificateResult.parse(await tlsHandlers.ISSUE_SSL.run(payload([domain, alias]), ctx));
    expect(result.domains.sort()).toEqual([alias, domain].sort());
    expect(Date.parse(result.notAfter)).toBeGreaterThan(Date.parse(result.notBefore));
    expect(result.certificatePem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);

    for (const host of [domain, alias]) {
      const answer = await httpsGet(tlsPort, host, root);
      expect(answer).toEqual({ status: 200, body: page, serial: serialOf(result) });
    }
    await expect(httpsGet(tlsPort, domain, pebble.caPem)).rejects.toThrow(/certificate/i);

    const plain = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      const req = httpRequest(new URL("/shop?x=1", nginx.probeUrl), { headers: { host: domain }, agent: false }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      });
      req.on("error", reject);
      req.end();
    });
    expect(plain).toEqual({ status: 301, location: `https://${domain}:${tlsPort}/shop?x=1` });
    const challenge = await httpGet(new URL("/.well-known/acme-challenge/absent", nginx.probeUrl), domain, 2_000);
    expect(challenge?.status).toBe(404);

    const paths = certificatePaths(config, domain);
    expect((await stat(await realpath(paths.privateKey))).mode & 0o777).toBe(0o600);
    expect((await stat(pebble.acmeConfig.accountKeyFile ?? "")).mode & 0o777).toBe(0o600);
    expect(await readdir(challengeDir(config.acmeWebroot))).toEqual([]);
  });

  it("keeps a fresh certificate when ISSUE_SSL runs again", async () => {
    const before = await httpsGet(tlsPort, domain, root);
    const again = CertificateResult.parse(await tlsHandlers.ISSUE_SSL.run(payload([domain, alias]), ctx));
    expect(serialOf(again)).toBe(before.serial);
  });

  it("renews to a new certificate while HTTPS keeps answering", async () => {
    const before = await httpsGet(tlsPort, domain, root);
    const failures: string[] = [];
    let answered = 0;
    let renewing = true;
    const traffic = (async () => {
      while (renewing) {
        await httpsGet(tlsPort, domain, root).then(
          (answer) => (answer.status === 200 && answer.body === page ? answered++ : failures.push(`HTTP ${answer.status}`)),
          (error: Error) => failures.push(error.message),
        );
      }
    })();
    const renewed = CertificateResult.parse(
      await tlsHandlers.RENEW_SSL.run(payload([domain, alias]), ctx).finally(() => {
        renewing = false;
      }),
    );
    await traffic;

    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(0);
    expect(serialOf(renewed)).not.toBe(before.serial);
    expect((await httpsGet(tlsPort, domain, root)).serial).toBe(serialOf(renewed));
    expect((await readdir(certificatePaths(config, domain).dir)).filter((name) => name.startsWith("gen-"))).toHaveLength(1);
  });

  it("fails an order whose challenge cannot be reached without retry, and keeps serving the previous certificate", async () => {
    await pebble.challTestSrv?.addA(unreachable, ["127.0.0.2"]);
    const paths = certificatePaths(config, domain);
    const chainBefore = await readFile(paths.certificate, "utf8");
    const served = await httpsGet(tlsPort, domain, root);

    const error = await jobError(tlsHandlers.RENEW_SSL.run(payload([domain, alias, unreachable]), ctx));
    expect(error.code).toBe("acme_challenge_failed");
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(unreachable);

    expect(await readFile(paths.certificate, "utf8")).toBe(chainBefore);
    expect(await httpsGet(tlsPort, domain, root)).toEqual(served);
  });

  it("puts the previous certificate back when nginx refuses the new server block", async () => {
    const paths = certificatePaths(config, domain);
    const chainBefore = await readFile(paths.certificate, "utf8");
    const served = await httpsGet(tlsPort, domain, root);
    const broken = parseAgentConfig({ ...config, nginx: { ...config.nginx, listenTls: "127.0.0.1:99999" } });
    const events: string[] = [];
    const brokenCtx = { ...ctx, config: broken, services: createServices(broken, log), event: (_level: string, message: string) => void events.push(message) };

    const error = await jobError(tlsHandlers.RENEW_SSL.run(payload([domain, alias]), brokenCtx));
    expect(error.code).toBe("nginx_config_rejected");
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("99999");
    expect(events).toContain("certificate issued; installing");
    expect(events).toContain("previous certificate restored");

    expect(await readFile(paths.certificate, "utf8")).toBe(chainBefore);
    expect((await readdir(paths.dir)).filter((name) => name.startsWith("gen-"))).toHaveLength(1);
    expect(await httpsGet(tlsPort, domain, root)).toEqual(served);
  });

  it("refuses names the site does not answer, and retries later when the ACME server is down", async () => {
    const foreign = await jobError(tlsHandlers.ISSUE_SSL.run(payload([domain, `other-${tag}.test`]), ctx));
    expect(foreign.code).toBe("invalid_payload");
    expect(foreign.retryable).toBe(false);

    const down = createAcme({ ...pebble.acmeConfig, directoryUrl: `https://127.0.0.1:${await freePort()}/dir` }, log, config.stateDir);
    const offline = { ...ctx, services: { ...ctx.services, acme: down } };
    const error = await jobError(tlsHandlers.RENEW_SSL.run(payload([domain]), offline));
    expect(error.code).toBe("acme_unreachable");
    expect(error.retryable).toBe(true);
    expect((await httpsGet(tlsPort, domain, root)).status).toBe(200);
  });
});

describe("ACME problem classification (RFC 8555 section 6.7)", () => {
  it("never retries a rate limit or a failed challenge, and retries server errors", () => {
    const limited = problemError({ type: "urn:ietf:params:acme:error:rateLimited", detail: "too many certificates already issued", status: 429, retryAfter: "3600" });
    expect([limited.code, limited.retryable, limited.details.retryAfter]).toEqual(["rate_limited", false, "3600"]);
    expect(limited.message).toContain("retry after 3600");
    expect(problemError({ detail: "", status: 429 }).code).toBe("rate_limited");

    for (const type of ["unauthorized", "dns", "connection", "incorrectResponse", "tls", "caa"]) {
      const failed = problemError({ type: `urn:ietf:params:acme:error:${type}`, detail: "x", status: 200 });
      expect([failed.code, failed.retryable]).toEqual(["challenge_failed", false]);
    }
    expect([problemError({ type: "urn:ietf:params:acme:error:serverInternal", detail: "", status: 500 }).retryable, problemError({ detail: "", status: 503 }).code]).toEqual([true, "server_error"]);
    expect(problemError({ type: "urn:ietf:params:acme:error:rejectedIdentifier", detail: "", status: 400 }).code).toBe("rejected");
  });
});
