import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../agent/src/drivers/free-port";
import { startPrivatePebble, type PrivatePebble } from "../../agent/src/drivers/pebble-instance";
import { openDatabase, type Database } from "../src/db/client";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../src/db/embedded";
import { verifyUnits } from "./support/fake-root";
import { eventually } from "./support/harness";
import { scratchDatabase } from "./support/scratch-db";

const repo = join(import.meta.dirname, "../..");

/** One HTTPS request to 127.0.0.1:`port` with SNI and Host `host`, trusting only `ca`; status and body. Rejects on a TLS or network error. */
function httpsCall(port: number, host: string, ca: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: "127.0.0.1", port, method, path, servername: host, ca, agent: false, timeout: 10_000,
      headers: { host, ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(payload);
  });
}

/**
 * Opens a WebSocket (RFC 6455 handshake) to `path` through 127.0.0.1:`port` over TLS with a
 * bearer token, and resolves to the handshake status and the first text frame's payload
 * (unmasked server frame under 126 bytes, enough for the live feed's hello).
 */
function websocketHello(port: number, host: string, ca: string, path: string, token: string): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, servername: host, ca, agent: false, timeout: 10_000, headers: {
      host, authorization: `Bearer ${token}`, connection: "Upgrade", upgrade: "websocket",
      "sec-websocket-version": "13", "sec-websocket-key": randomBytes(16).toString("base64"),
    } });
    req.on("upgrade", (res, socket, head) => {
      let buffered = head;
      const done = () => {
        const length = (buffered[1] ?? 0) & 0x7f;
        if (buffered.length < 2 + length) return false;
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, message: buffered.subarray(2, 2 + length).toString("utf8") });
        return true;
      };
      if (!done()) socket.on("data", (chunk: Buffer) => { buffered = Buffer.concat([buffered, chunk]); done(); });
    });
    req.on("response", (res) => resolve({ status: res.statusCode ?? 0, message: "" }));
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** KEY=VALUE pairs of a systemd EnvironmentFile as install/coordinator.sh writes it (values in single quotes). */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)='(.*)'$/.exec(line);
    if (m?.[1] && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

/** Every path under `dir` with its size and mode, sorted: what "changes nothing" is checked against. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const s = await lstat(path);
    out.push(`${path} ${s.mode} ${s.size} ${s.mtimeMs}`);
  }
  return out.sort();
}

describe("install/coordinator.sh into a fake root: PostgreSQL, nginx with an ACME certificate, first admin", () => {
  const domain = `panel-${randomBytes(4).toString("hex")}.test`;
  let root: string;
  let prefix: string;
  let embedded: EmbeddedDatabase | undefined;
  let scratch: { url: string; drop(): Promise<void> };
  let db: Database;
  let pebble: PrivatePebble;
  let coordinator: ChildProcess | undefined;
  let oneTimePassword = "";
  const ports = { nginxHttp: 0, nginxHttps: 0, http: 0, grpc: 0 };
  const nginxConf = () => join(root, "etc/nginx/nginx.conf");
  const installer = (...args: string[]) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== "DATABASE_URL"));
    return execa("bash", [join(repo, "install/coordinator.sh"), ...args], { reject: false, env, extendEnv: false });
  };
  const installArgs = () => [
    "--root", root, "--no-start", "--database-url", scratch.url, "--domain", domain, "--email", "hostmaster@example.test",
    "--acme-directory", pebble.directoryUrl, "--acme-ca-file", pebble.caFile, "--admin-email", "ops@example.test",
    "--http-port", String(ports.http), "--grpc-port", String(ports.grpc), "--grpc-host", "127.0.0.1",
    "--nginx-http-port", String(ports.nginxHttp), "--nginx-https-port", String(ports.nginxHttps), "--nginx-address", "127.0.0.1",
  ];
  const superAdmins = async () => (await db.pool.query<{ email: string }>(
    "SELECT u.email FROM users u JOIN roles r ON r.id = u.platform_role_id WHERE r.name = 'SUPER_ADMIN'")).rows.map((r) => r.email);

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-install-coord-"));
    root = join(prefix, "root");
    await mkdir(root, { recursive: true });
    // nginx's workers must traverse the fake root to the ACME webroot.
    await chmod(prefix, 0o755);
    await chmod(root, 0o755);
    let base = process.env.DATABASE_URL;
    if (!base) {
      embedded = await startEmbeddedPostgres(join(prefix, "pg"), await freePort(), pino({ level: "silent" }));
      base = embedded.url;
    }
    scratch = await scratchDatabase(base, "mpanel_install");
    db = openDatabase(scratch.url, 2);
    for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort();
    pebble = await startPrivatePebble({ prefix, httpPort: ports.nginxHttp });

    // The fake root's nginx, as Debian lays it out (sites-enabled included in http), on loopback ports only.
    const at = (...parts: string[]) => join(root, ...parts);
    for (const dir of ["etc/nginx/sites-enabled", "var/log/nginx", "var/lib/nginx", "run"]) await mkdir(at(dir), { recursive: true });
    await writeFile(nginxConf(), [
      "user root;", "worker_processes 1;", `pid ${at("run/nginx.pid")};`, `error_log ${at("var/log/nginx/error.log")} notice;`, "events {}", "http {",
      `  access_log ${at("var/log/nginx/access.log")};`,
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${at("var/lib/nginx", t)};`),
      "  server_names_hash_bucket_size 128;",
      `  include ${at("etc/nginx/sites-enabled/*.conf")};`, "}", "",
    ].join("\n"));
    const started = await execa("nginx", ["-p", at("var/lib/nginx"), "-c", nginxConf()], { reject: false });
    if (started.exitCode !== 0) throw new Error(`nginx: ${started.stderr}`);
  }, 180_000);

  afterAll(async () => {
    if (coordinator && coordinator.exitCode === null) {
      const exited = new Promise((resolve) => coordinator?.once("exit", resolve));
      coordinator.kill("SIGTERM");
      await exited;
    }
    if (root) await execa("nginx", ["-c", nginxConf(), "-s", "stop"], { reject: false });
    await pebble?.stop();
    await db?.close();
    await scratch?.drop();
    await embedded?.stop();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("refuses bad options, saying what is wrong and what to do, and changes nothing", async () => {
    const before = await snapshot(root);
    const cases: Array<[string[], RegExp]> = [
      [["--database-url", "mysql://root@127.0.0.1/mpanel"], /bad --database-url/],
      [["--domain", "Panel Example"], /bad --domain 'Panel Example'/],
      [["--domain", domain], /--domain needs --email/],
      [["--grpc-port", "70000"], /bad --grpc-port '70000'/],
      [["--acme-directory", "http://acme.test/dir", "--domain", domain, "--email", "a@example.test"], /must be an https:\/\/ URL/],
      [["--colour"], /unknown option: --colour/],
    ];
    for (const [args, message] of cases) {
      const res = await installer("--root", root, "--no-start", ...args);
      expect(res.exitCode, args.join(" ")).toBe(1);
      expect(res.stderr).toMatch(message);
      expect(res.stderr).toMatch(/what to do: /);
    }
    expect(await snapshot(root)).toEqual(before);
  });

  it("installs app, settings, unit and nginx site; migrates; creates one admin; gets a certificate chaining to Pebble's root", async () => {
    const res = await installer(...installArgs());
    expect(res.exitCode, res.stderr).toBe(0);
    oneTimePassword = /one-time password: (\S+)/.exec(res.stdout)?.[1] ?? "";
    expect(oneTimePassword).not.toBe("");
    expect(res.stdout).toContain(`https://${domain}:${ports.nginxHttps}/`);
    expect(res.stderr).toMatch(/migration applied: 20261123120000_node_drain/);

    // Application, Node, settings, unit.
    expect((await stat(join(root, "opt/mpanel/app/coordinator/src/server.ts"))).isFile()).toBe(true);
    expect((await stat(join(root, "opt/mpanel/app/panel/dist/index.html"))).isFile()).toBe(true);
    await expect(stat(join(root, "opt/mpanel/app/.git"))).rejects.toThrow();
    expect((await execa(join(root, "opt/mpanel/node/bin/node"), ["--version"])).stdout).toMatch(/^v24\./);
    const envFile = join(root, "etc/mpanel/coordinator.env");
    expect((await stat(envFile)).mode & 0o777).toBe(0o640);
    const settings = parseEnvFile(await readFile(envFile, "utf8"));
    expect(settings).toMatchObject({
      DATABASE_URL: scratch.url, MPANEL_HTTP_HOST: "127.0.0.1", MPANEL_HTTP_PORT: String(ports.http), MPANEL_GRPC_HOST: "127.0.0.1",
      MPANEL_GRPC_PORT: String(ports.grpc), MPANEL_PUBLIC_URL: `https://${domain}:${ports.nginxHttps}`, MPANEL_TRUSTED_PROXIES: "127.0.0.1,::1",
    });
    expect(settings.MPANEL_GRPC_SANS?.split(",")).toEqual(expect.arrayContaining(["localhost", "127.0.0.1", domain]));
    expect(await readFile(join(root, "etc/systemd/system/mpanel-coordinator.service"), "utf8")).toBe(await readFile(join(repo, "systemd/mpanel-coordinator.service"), "utf8"));
    expect(await readlink(join(root, "etc/systemd/system/multi-user.target.wants/mpanel-coordinator.service"))).toBe("/etc/systemd/system/mpanel-coordinator.service");
    const verified = await verifyUnits(root, ["mpanel-coordinator.service", "mpanel-front-cert.service", "mpanel-front-cert.timer"]);
    expect(verified.stderr).toBe("");
    expect(verified.exitCode).toBe(0);

    // Every migration of the installed release is applied, and there is exactly the one admin.
    const migrations = (await readdir(join(root, "opt/mpanel/app/coordinator/prisma/migrations"), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    const applied = (await db.pool.query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY migration_name`)).rows.map((r) => r.migration_name);
    expect(applied).toEqual(migrations);
    expect(await superAdmins()).toEqual(["ops@example.test"]);

    // The operator's `mpanel` command runs the CLI with the installed settings.
    const health = await execa(join(root, "usr/local/sbin/mpanel"), ["health", "--json"], { reject: false, env: { PATH: process.env.PATH }, extendEnv: false });
    expect(health.exitCode, health.stderr).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({ healthy: true, migrations: { pending: [] }, nodes: { online: 0, offline: 0 } });

    // nginx site: enabled, accepted by nginx, HTTP-01 webroot and HTTPS proxy.
    const site = await readFile(join(root, "etc/nginx/sites-available/mpanel-coordinator.conf"), "utf8");
    expect(await readlink(join(root, "etc/nginx/sites-enabled/mpanel-coordinator.conf"))).toBe("../sites-available/mpanel-coordinator.conf");
    expect(site).toContain(`proxy_pass http://127.0.0.1:${ports.http};`);
    expect(site).toContain("proxy_set_header Upgrade $http_upgrade;");
    expect(site).toContain(`root ${join(root, "var/lib/mpanel-acme")};`);
    expect((await execa("nginx", ["-t", "-q", "-c", nginxConf()], { reject: false })).exitCode).toBe(0);

    // The certificate: for the domain, issued by Pebble's intermediate, which Pebble's root signed.
    const pems = (await readFile(join(root, "etc/mpanel/tls/fullchain.pem"), "utf8")).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(pems.length).toBeGreaterThanOrEqual(2);
    const [leaf, intermediate] = pems.map((pem) => new X509Certificate(pem));
    const pebbleRoot = new X509Certificate(await pebble.fetchRoot());
    expect(leaf?.checkHost(domain)).toBe(domain);
    expect(leaf?.verify(intermediate!.publicKey)).toBe(true);
    expect(intermediate?.verify(pebbleRoot.publicKey)).toBe(true);
    expect(leaf?.verify(pebbleRoot.publicKey)).toBe(false);
    expect((await stat(join(root, "etc/mpanel/tls/privkey.pem"))).mode & 0o777).toBe(0o600);

    // Renewal: a daily timer, enabled; its script keeps a certificate that is far from its end.
    expect(await readlink(join(root, "etc/systemd/system/timers.target.wants/mpanel-front-cert.timer"))).toBe("/etc/systemd/system/mpanel-front-cert.timer");
    const renew = await execa(join(root, "usr/local/sbin/mpanel-front-cert"), [], { reject: false, env: { PATH: process.env.PATH }, extendEnv: false });
    expect(renew.exitCode, renew.stderr).toBe(0);
    expect(JSON.parse(renew.stdout)).toMatchObject({ issued: false, domain });
  }, 240_000);

  it("the installed coordinator, started as its unit starts it, takes the one-time password through nginx over HTTPS", async () => {
    const settings = parseEnvFile(await readFile(join(root, "etc/mpanel/coordinator.env"), "utf8"));
    coordinator = spawn(join(root, "opt/mpanel/node/bin/node"), ["--import", "tsx", "coordinator/src/server.ts"], {
      cwd: join(root, "opt/mpanel/app"), stdio: "ignore",
      env: { PATH: process.env.PATH, ...settings, NODE_ENV: "production", MPANEL_DATA_DIR: join(root, "var/lib/mpanel"), LOG_LEVEL: "warn" },
    });
    const ca = await pebble.fetchRoot();
    await eventually("the coordinator behind nginx", async () => (await httpsCall(ports.nginxHttps, domain, ca, "GET", "/api/health/ready")).status === 200, 90_000);
    const login = await httpsCall(ports.nginxHttps, domain, ca, "POST", "/api/auth/login", { email: "ops@example.test", password: oneTimePassword });
    expect(login.status, login.body).toBe(200);
    const token = (JSON.parse(login.body) as { data: { token: string } }).data.token;
    // The live feed's WebSocket upgrade passes through nginx.
    const live = await websocketHello(ports.nginxHttps, domain, ca, "/api/live", token);
    expect(live.status).toBe(101);
    expect(JSON.parse(live.message)).toMatchObject({ type: "hello", userId: expect.any(String) });
    const wrong = await httpsCall(ports.nginxHttps, domain, ca, "POST", "/api/auth/login", { email: "ops@example.test", password: `${oneTimePassword}x` });
    expect(wrong.status).toBe(401);
    // Plain HTTP redirects to HTTPS (the ACME path aside).
    const plain = await fetch(`http://127.0.0.1:${ports.nginxHttp}/api/health`, { headers: { host: domain }, redirect: "manual" });
    expect(plain.status).toBe(301);
    expect(plain.headers.get("location")).toBe(`https://${domain}:${ports.nginxHttps}/api/health`);
  }, 120_000);

  it("re-runs safely: no second admin, no password printed, settings edits and the certificate kept", async () => {
    const envFile = join(root, "etc/mpanel/coordinator.env");
    await writeFile(envFile, `${await readFile(envFile, "utf8")}MPANEL_LOGIN_RATE_MAX='77'\n`);
    const certBefore = await readFile(join(root, "etc/mpanel/tls/fullchain.pem"), "utf8");
    const res = await installer(...installArgs());
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/administrator: ops@example\.test exists already/);
    expect(res.stdout).not.toMatch(/one-time password/);
    expect(res.stderr).toMatch(/\(kept, valid until/);
    expect(await superAdmins()).toEqual(["ops@example.test"]);
    expect(parseEnvFile(await readFile(envFile, "utf8"))).toMatchObject({ MPANEL_LOGIN_RATE_MAX: "77", DATABASE_URL: scratch.url });
    expect(await readFile(join(root, "etc/mpanel/tls/fullchain.pem"), "utf8")).toBe(certBefore);
  }, 180_000);

  it("uninstalls: unit, application and nginx site gone, state and settings kept unless --purge", async () => {
    if (coordinator && coordinator.exitCode === null) {
      const exited = new Promise((resolve) => coordinator?.once("exit", resolve));
      coordinator.kill("SIGTERM");
      await exited;
    }
    const res = await installer("--root", root, "--uninstall");
    expect(res.exitCode, res.stderr).toBe(0);
    for (const path of ["etc/systemd/system/mpanel-coordinator.service", "etc/systemd/system/multi-user.target.wants/mpanel-coordinator.service", "opt/mpanel/app", "usr/local/sbin/mpanel", "usr/local/sbin/mpanel-front-cert", "etc/systemd/system/mpanel-front-cert.timer", "etc/nginx/sites-enabled/mpanel-coordinator.conf", "etc/nginx/sites-available/mpanel-coordinator.conf"]) {
      await expect(lstat(join(root, path)), path).rejects.toThrow();
    }
    expect((await stat(join(root, "etc/mpanel/coordinator.env"))).isFile()).toBe(true);
    expect((await stat(join(root, "etc/mpanel/tls/privkey.pem"))).isFile()).toBe(true);
    expect((await installer("--root", root, "--uninstall", "--purge")).exitCode).toBe(0);
    for (const path of ["etc/mpanel/coordinator.env", "etc/mpanel/tls", "var/lib/mpanel"]) await expect(lstat(join(root, path)), path).rejects.toThrow();
  });
});
