/**
 * Quick start orchestration (run by install/quickstart.sh with Node 24): starts, in ./var,
 * a private nginx (127.0.0.1:MPANEL_SITE_PORT, default 8081) and PHP-FPM, the coordinator
 * (http://127.0.0.1:MPANEL_HTTP_PORT, default 8080; gRPC 127.0.0.1:MPANEL_GRPC_PORT, default
 * 8443) and a local agent with the web role; creates the first admin (password printed once),
 * a demo tenant and a CloudPod serving the PHP site `demo.mpanel.test` (its own system user and
 * PHP-FPM pool), waits for its jobs, and prints the URL. Everything keeps running in the
 * background (logs and pids in ./var).
 */
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startPrivateNginx } from "../agent/src/drivers/nginx-instance";
import { startPrivatePhpFpm } from "../agent/src/drivers/php-fpm-instance";
import { httpGet } from "../agent/src/drivers/nginx";

const root = new URL("..", import.meta.url).pathname;
const varDir = join(root, "var");
const httpPort = Number(process.env.MPANEL_HTTP_PORT ?? 8080);
const grpcPort = Number(process.env.MPANEL_GRPC_PORT ?? 8443);
const sitePort = Number(process.env.MPANEL_SITE_PORT ?? 8081);
const api = `http://127.0.0.1:${httpPort}`;
const coordinatorEnv = {
  ...process.env,
  MPANEL_DATA_DIR: join(varDir, "coordinator"),
  MPANEL_HTTP_PORT: String(httpPort),
  MPANEL_GRPC_PORT: String(grpcPort),
  MPANEL_EMBEDDED_PG_PORT: process.env.MPANEL_EMBEDDED_PG_PORT ?? "15432",
};

function say(message: string): void {
  process.stdout.write(`mpanel: ${message}\n`);
}

function running(pidFile: string): boolean {
  try {
    process.kill(Number(readFileSync(pidFile, "utf8")), 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `args` detached with output in var/<name>.log and its pid in var/<name>.pid, unless already running. */
function daemon(name: string, args: string[], env: NodeJS.ProcessEnv): void {
  const pidFile = join(varDir, `${name}.pid`);
  if (running(pidFile)) return say(`${name} already running (pid ${readFileSync(pidFile, "utf8")})`);
  const log = openSync(join(varDir, `${name}.log`), "a");
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: root, env, detached: true, stdio: ["ignore", log, log] });
  writeFileSync(pidFile, String(child.pid));
  child.unref();
  say(`${name} started (pid ${child.pid}, log var/${name}.log)`);
}

function cli(args: string[]): Record<string, unknown> {
  const out = execFileSync(process.execPath, ["--import", "tsx", "coordinator/src/cli.ts", ...args], { cwd: root, env: coordinatorEnv, encoding: "utf8" });
  return JSON.parse(out) as Record<string, unknown>;
}

async function until<T>(what: string, fn: () => Promise<T | null>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await fn().catch(() => null);
    if (value) return value;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; see the logs in var/`);
}

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; data: Record<string, unknown> }> {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : null,
  });
  const json = (await res.json()) as { data: Record<string, unknown> };
  return { status: res.status, data: json.data };
}

mkdirSync(varDir, { recursive: true });
const nginxPrefix = join(varDir, "nginx");
if (!running(join(nginxPrefix, "logs", "nginx.pid"))) {
  await startPrivateNginx({ prefix: nginxPrefix, port: sitePort, daemon: true, firstSiteIsDefault: true });
  say(`nginx started on 127.0.0.1:${sitePort}`);
}

const phpPrefix = join(varDir, "php");
if (!running(join(phpPrefix, "run", "php-fpm.pid"))) {
  await startPrivatePhpFpm({ prefix: phpPrefix, daemon: true });
  say("php-fpm started");
}

daemon("coordinator", ["coordinator/src/server.ts"], coordinatorEnv);
await until("the coordinator", async () => ((await fetch(`${api}/api/health/ready`)).ok ? true : null));

const adminFile = join(varDir, "admin.json");
let admin: { email: string; password: string };
if (existsSync(adminFile)) {
  admin = JSON.parse(readFileSync(adminFile, "utf8")) as typeof admin;
} else {
  const created = cli(["create-admin", "--email", "admin@mpanel.localhost", "--name", "Quick start admin"]);
  admin = { email: "admin@mpanel.localhost", password: String(created.oneTimePassword) };
  writeFileSync(adminFile, JSON.stringify(admin), { mode: 0o600 });
  say(`created admin ${admin.email} with one-time password ${admin.password} (also in var/admin.json, mode 0600; delete it once noted)`);
}

const agentConfig = join(varDir, "agent.json");
writeFileSync(agentConfig, JSON.stringify({
  coordinator: `127.0.0.1:${grpcPort}`,
  stateDir: join(varDir, "agent"),
  roles: ["web"],
  hostname: "quickstart-web",
  podsRoot: join(varDir, "pods"),
  acmeWebroot: join(varDir, "acme"),
  nginx: { prefix: nginxPrefix, confFile: join(nginxPrefix, "conf", "nginx.conf"), sitesDir: join(nginxPrefix, "sites"), probeUrl: `http://127.0.0.1:${sitePort}`, listen: `127.0.0.1:${sitePort}` },
  php: {
    confFile: join(phpPrefix, "php-fpm.conf"), poolDir: join(phpPrefix, "pools"), runDir: join(phpPrefix, "run", "pools"),
    pidFile: join(phpPrefix, "run", "php-fpm.pid"), errorLog: join(phpPrefix, "log", "php-fpm.log"),
  },
}, null, 2));
const enrolled = existsSync(join(varDir, "agent", "node-id"));
const enrollArgs = enrolled ? [] : ["--token", String(cli(["join-token", "--roles", "web", "--ttl", "600"]).token), "--ca-hash", String(cli(["ca-hash"]).caHash)];
daemon("agent", ["agent/src/main.ts", "--config", agentConfig, ...enrollArgs], process.env);

const login = await fetch(`${api}/api/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(admin) });
if (!login.ok) throw new Error(`admin login failed (${login.status}); remove var/ to start over`);
const token = String(((await login.json()) as { data: { token: string } }).data.token);
await until("the agent to come online", async () => {
  const servers = await call("GET", "/api/admin/servers?status=online", token);
  return (servers.data as unknown as unknown[]).length > 0 ? true : null;
});

const domain = "demo.mpanel.test";
const existing = await call("GET", `/api/admin/websites?q=${domain}`, token);
if ((existing.data as unknown as unknown[]).length === 0) {
  const tenant = await call("POST", "/api/admin/tenants", token, { name: "Demo tenant", slug: "demo" });
  const tenantId = String((tenant.data.tenant as { id: string }).id);
  const order = await call("POST", "/api/admin/hosting/cloudpods", token, { tenantId, domain, runtime: "php", dns: false, mail: false, tls: false });
  if (order.status !== 202) throw new Error(`ordering the demo CloudPod failed: ${JSON.stringify(order.data)}`);
  for (const jobId of Object.values(order.data.jobs as Record<string, string | null>).filter((id) => id !== null)) {
    const job = await until("the CloudPod's jobs", async () => {
      const j = await call("GET", `/api/admin/jobs/${jobId}`, token);
      return ["succeeded", "failed"].includes(String(j.data.status)) ? j.data : null;
    });
    if (job.status !== "succeeded") throw new Error(`${String(job.type)} failed: ${String(job.errorMessage)}`);
  }
}
const page = await httpGet(new URL(`http://127.0.0.1:${sitePort}/`), domain, 5000);
if (page?.status !== 200 || !page.body.includes("runs as")) throw new Error("the demo PHP site does not answer; see var/agent.log, var/nginx/logs/error.log and var/php/log/php-fpm.log");
say(`panel: ${api}/ (sign in as ${admin.email}); API: ${api}/api/openapi.json`);
say(`demo PHP site ${domain} is served by nginx and its CloudPod's own PHP-FPM pool:`);
say(`  curl -H 'Host: ${domain}' http://127.0.0.1:${sitePort}/`);
say(`  http://127.0.0.1:${sitePort}/`);
say("stop everything with: bash install/stop.sh");
