import "reflect-metadata";
import { randomBytes, webcrypto } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { join, resolve } from "node:path";
import * as x509 from "@peculiar/x509";
import { execa } from "execa";
import type { AcmeConfig } from "./acme";
import { freePort } from "./free-port";
import { httpGet } from "./nginx";
import { until } from "./nginx-instance";

x509.cryptoProvider.set(webcrypto);

/** A private pebble-challtestsrv used as Pebble's DNS resolver: every A query is answered with `defaultIPv4` unless overridden. */
export interface PrivateChallTestSrv {
  /** "127.0.0.1:<port>" of its DNS server (UDP and TCP), for Pebble's `-dnsserver`. */
  dnsServer: string;
  /** "http://127.0.0.1:<port>" of its management API. */
  managementUrl: string;
  /** Makes `host` (a DNS name, no trailing dot) resolve to `addresses` (IPv4 literals) instead of the default. Throws on a non-200 answer. */
  addA(host: string, addresses: string[]): Promise<void>;
  /** Kills it and waits for the exit. Safe to call twice. */
  stop(): Promise<void>;
}

/** A private Pebble ACME server (RFC 8555 test CA) on 127.0.0.1, with everything under `<prefix>/pebble`. */
export interface PrivatePebble {
  /** "https://127.0.0.1:<port>/dir" */
  directoryUrl: string;
  /** PEM of the throwaway CA that signed Pebble's own HTTPS listener certificate (for 127.0.0.1 and localhost), and its file. */
  caPem: string;
  caFile: string;
  /** "https://127.0.0.1:<port>" of Pebble's management interface (same listener CA). */
  managementUrl: string;
  /** The resolver Pebble's validation authority uses ("host:port"). */
  dnsServer: string;
  /** The resolver this start launched, absent when `dnsServer` was given. Stopped by `stop()`. */
  challTestSrv?: PrivateChallTestSrv;
  /** Ready for the agent's `acme` config section: this directory and CA, an account key under the prefix, `skipChallengeVerification: true`. */
  acmeConfig: AcmeConfig;
  /** Pebble's current issuing root (PEM), from `<managementUrl>/roots/0`; Pebble makes a new one on every start. */
  fetchRoot(): Promise<string>;
  /** Kills Pebble (and the resolver it started) and waits for the exit. Safe to call twice or after a failed start. */
  stop(): Promise<void>;
}

/** Options of `startPrivatePebble`. Ports are TCP ports on 127.0.0.1 (1..65535). */
export interface PrivatePebbleOptions {
  /** Scratch directory (made absolute); Pebble's files go in `<prefix>/pebble`. */
  prefix: string;
  /** Port Pebble's validation authority connects to for HTTP-01: the nginx that serves the ACME webroot over plain HTTP. */
  httpPort: number;
  /** Port it connects to for TLS-ALPN-01 (unused by mPanel); default: a free port. */
  tlsPort?: number;
  /** Resolver for the names being validated ("127.0.0.1:<port>", e.g. a private PowerDNS); absent = start a private pebble-challtestsrv answering 127.0.0.1 for every name. */
  dnsServer?: string;
  /** Account contact put in `acmeConfig` (default "hostmaster@mpanel.test"). */
  email?: string;
  /** Executables (defaults /usr/bin/pebble and /usr/bin/pebble-challtestsrv, from Debian's pebble package). */
  binary?: string;
  challTestSrvBinary?: string;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const VALIDITY_MS = 365 * 86_400_000;
const EC_P256: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALG: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const HOST_PORT = /^127\.0\.0\.1:\d{1,5}$/;

/** @peculiar/x509 PEM lacks the final newline; files and concatenations need it. */
const pemOut = (pem: string): string => (pem.endsWith("\n") ? pem : `${pem}\n`);

/**
 * A throwaway CA and a server certificate for `localhost` and `127.0.0.1` signed by it
 * (ECDSA P-256, one year; RFC 5280 basic constraints, key usage and SANs), all PEM.
 */
async function makeListenerCertificate(): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const now = Date.now();
  const notBefore = new Date(now - 5 * 60_000);
  const notAfter = new Date(now + VALIDITY_MS);
  const caKeys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `01${randomBytes(8).toString("hex")}`,
    name: "CN=mPanel private Pebble listener CA",
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: SIGNING_ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true), await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey)],
  });
  const leafKeys = await webcrypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: `02${randomBytes(8).toString("hex")}`,
    subject: "CN=localhost",
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGNING_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "localhost" }, { type: "ip", value: "127.0.0.1" }]),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", leafKeys.privateKey);
  return { caPem: pemOut(ca.toString("pem")), certPem: pemOut(leaf.toString("pem")), keyPem: pemOut(x509.PemConverter.encode(pkcs8, "PRIVATE KEY")) };
}

/** GET over HTTPS trusting only `ca`; resolves to status and body, or null on any network error. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string } | null> {
  return new Promise((done) => {
    const req = httpsRequest(url, { ca, agent: false, timeout: 2_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => done({ status: res.statusCode ?? 0, body }));
      res.on("error", () => done(null));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(null));
    req.end();
  });
}

/**
 * Spawns `binary args` with its output appended to `logFile`, killed if this process exits.
 * Resolves once `ready()` holds (≤ 10 s); otherwise kills it and throws an Error quoting the log.
 */
async function spawnReady(binary: string, args: string[], env: Record<string, string>, logFile: string, ready: () => Promise<boolean>): Promise<{ stop(): Promise<void> }> {
  const output = { file: logFile, append: true } as const;
  const child = execa(binary, args, { env, stdin: "ignore", stdout: output, stderr: output, reject: false, cleanup: true });
  let exited = false;
  const done = child.then(() => {
    exited = true;
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (exited) return;
      child.kill("SIGTERM");
      if (!(await until(STOP_TIMEOUT_MS, async () => exited))) child.kill("SIGKILL");
      await done;
    })());
  if (!(await until(START_TIMEOUT_MS, async () => exited || (await ready()))) || exited) {
    await stop();
    const logTail = (await readFile(logFile, "utf8").catch(() => "")).trim().split("\n").slice(-20).join("\n");
    throw new Error(`${binary} ${exited ? "exited during start" : "did not become ready in time"}: ${logTail}`);
  }
  return { stop };
}

/**
 * Starts pebble-challtestsrv with only its DNS server (on 127.0.0.1:<free port>) and its
 * management API (127.0.0.1:<free port>); A queries are answered with `defaultIPv4`
 * (default "127.0.0.1"), AAAA queries with nothing. Its log is `<dir>/challtestsrv.log`.
 * Throws an Error quoting that log when it does not come up within 10 s.
 */
export async function startPrivateChallTestSrv(opts: { dir: string; defaultIPv4?: string; binary?: string }): Promise<PrivateChallTestSrv> {
  const dir = resolve(opts.dir);
  await mkdir(dir, { recursive: true });
  const [dnsPort, managementPort] = [await freePort(), await freePort()];
  const dnsServer = `127.0.0.1:${dnsPort}`;
  const managementUrl = `http://127.0.0.1:${managementPort}`;
  const args = ["-dns01", dnsServer, "-management", `127.0.0.1:${managementPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", opts.defaultIPv4 ?? "127.0.0.1", "-defaultIPv6", ""];
  const server = await spawnReady(opts.binary ?? "/usr/bin/pebble-challtestsrv", args, {}, join(dir, "challtestsrv.log"), async () => (await httpGet(new URL(managementUrl), "localhost", 1_000)) !== null);
  return {
    dnsServer,
    managementUrl,
    async addA(host, addresses) {
      const res = await fetch(`${managementUrl}/add-a`, { method: "POST", body: JSON.stringify({ host: `${host}.`, addresses }) });
      if (res.status !== 200) throw new Error(`pebble-challtestsrv add-a answered HTTP ${res.status}: ${await res.text()}`);
    },
    stop: server.stop,
  };
}

/**
 * Starts Pebble on 127.0.0.1 (ACME API and management interface on free ports) with a fresh
 * listener certificate, `PEBBLE_VA_NOSLEEP=1` (validate at once) and `PEBBLE_WFE_NONCEREJECT=0`
 * (no artificial badNonce), resolving names through `dnsServer` or a private pebble-challtestsrv.
 * Files: `<prefix>/pebble/{ca.pem,cert.pem,key.pem,pebble-config.json,pebble.log,account-key.pem}`.
 * Resolves once the directory answers 200 (≤ 10 s). Throws an Error quoting Pebble's log when it
 * does not come up, or a RangeError for a bad port or `dnsServer` (must be "127.0.0.1:<port>").
 */
export async function startPrivatePebble(opts: PrivatePebbleOptions): Promise<PrivatePebble> {
  const ports = [opts.httpPort, opts.tlsPort ?? 1];
  if (!ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535)) throw new RangeError(`invalid port in ${JSON.stringify(ports)}`);
  if (opts.dnsServer !== undefined && !HOST_PORT.test(opts.dnsServer)) throw new RangeError(`dnsServer must be 127.0.0.1:<port>, got ${JSON.stringify(opts.dnsServer)}`);
  const dir = join(resolve(opts.prefix), "pebble");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { caPem, certPem, keyPem } = await makeListenerCertificate();
  const caFile = join(dir, "ca.pem");
  await writeFile(caFile, caPem, { mode: 0o644 });
  await writeFile(join(dir, "cert.pem"), certPem, { mode: 0o644 });
  await writeFile(join(dir, "key.pem"), keyPem, { mode: 0o600 });
  const [port, managementPort, tlsPort] = [await freePort(), await freePort(), opts.tlsPort ?? (await freePort())];
  const configFile = join(dir, "pebble-config.json");
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: join(dir, "cert.pem"),
      privateKey: join(dir, "key.pem"),
      httpPort: opts.httpPort,
      tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
    },
  };
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o644 });

  const challTestSrv = opts.dnsServer === undefined ? await startPrivateChallTestSrv({ dir, ...(opts.challTestSrvBinary ? { binary: opts.challTestSrvBinary } : {}) }) : undefined;
  const dnsServer = opts.dnsServer ?? challTestSrv?.dnsServer ?? "";
  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  const managementUrl = `https://127.0.0.1:${managementPort}`;
  let pebble: { stop(): Promise<void> };
  try {
    pebble = await spawnReady(
      opts.binary ?? "/usr/bin/pebble",
      ["-config", configFile, "-dnsserver", dnsServer],
      { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
      join(dir, "pebble.log"),
      async () => (await httpsGet(directoryUrl, caPem))?.status === 200,
    );
  } catch (error) {
    await challTestSrv?.stop();
    throw error;
  }
  return {
    directoryUrl,
    caPem,
    caFile,
    managementUrl,
    dnsServer,
    ...(challTestSrv ? { challTestSrv } : {}),
    acmeConfig: { directoryUrl, email: opts.email ?? "hostmaster@mpanel.test", caFile, accountKeyFile: join(dir, "account-key.pem"), skipChallengeVerification: true, pollIntervalMs: 200 },
    async fetchRoot() {
      const res = await httpsGet(`${managementUrl}/roots/0`, caPem);
      if (res?.status !== 200) throw new Error(`Pebble's management interface answered ${res ? `HTTP ${res.status}` : "nothing"} for /roots/0`);
      return res.body;
    },
    async stop() {
      await pebble.stop();
      await challTestSrv?.stop();
    },
  };
}
