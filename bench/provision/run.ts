/**
 * bench/provision: how long hosting takes on one machine, against the real daemons.
 *
 * (a) Order -> live: from `POST /api/admin/hosting/cloudpods` to every job of the workflow
 *     succeeded (system user + PHP-FPM pool + server block, PowerDNS zone, Postfix/Dovecot mail
 *     domain with DKIM, Pebble certificate installed) and the HTTPS page answering, for
 *     PROVISION_RUNS orders (default 10) one after another; plus where the time goes per step.
 * (b) One more vhost when VHOSTS (default 10,000) exist: write + `nginx -t` + reload + the new
 *     server block answering, through the agent's nginx driver, VHOST_SAMPLES times (default 10).
 *
 * Prints figures (ms); never passes or fails on them. PROVISION_RUNS=0 or VHOST_SAMPLES=0 skips a part. Needs root and the Debian packages of
 * install/deps.sh. Run: `source install/env.sh && npx tsx bench/provision/run.ts`.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { startAgent, type RunningAgent } from "../../agent/src/agent";
import { createNginx } from "../../agent/src/drivers/nginx";
import { freePort } from "../../agent/src/drivers/free-port";
import { startPrivateNginx } from "../../agent/src/drivers/nginx-instance";
import { renderServerBlock } from "../../agent/src/jobs/web/server-block";
import { startLocalPlatform } from "../../agent/src/local-platform";
import { joinToken, startTestCoordinator, testLog } from "../../coordinator/test/support/harness";
import { summarize, type LatencySummary } from "../dispatch/stats";

const RUNS = Number(process.env.PROVISION_RUNS ?? 10);
const VHOSTS = Number(process.env.VHOSTS ?? 10_000);
const VHOST_SAMPLES = Number(process.env.VHOST_SAMPLES ?? 10);
const log = pino({ level: "silent" });

const progress = (line: string): void => {
  process.stderr.write(`[provision] ${line}\n`);
};
const fmt = (s: LatencySummary): string => `p50 ${s.p50.toFixed(0)} ms, p90 ${s.p90.toFixed(0)} ms, max ${s.max.toFixed(0)} ms (n=${s.count})`;

/** One HTTPS GET with SNI `host` trusting `ca`; resolves the status (0 on error). */
function httpsStatus(port: number, host: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/", servername: host, headers: { host }, ca, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(0));
    req.end();
  });
}

async function orderToLive(): Promise<void> {
  const t = await startTestCoordinator();
  const dir = await mkdtemp(join(tmpdir(), "mpanel-bench-provision-"));
  const platform = await startLocalPlatform({ dir, coordinator: t.grpcAddress });
  const agents: RunningAgent[] = [];
  try {
    for (const config of Object.values(platform.agents)) agents.push(await startAgent(config, testLog, await joinToken(t, [...config.roles])));
    const prisma = t.coordinator.database.db.prisma;
    while ((await prisma.server.count({ where: { status: "online" } })) < 4) await new Promise((r) => setTimeout(r, 20));
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Bench Customer" });
    const tenantId = (tenant.body.data?.tenant as { id: string }).id;
    const root = await platform.pebble.fetchRoot();
    const total: number[] = [];
    const steps = new Map<string, number[]>();
    for (let i = 0; i < RUNS; i++) {
      const domain = `site${i}.bench-provision.test`;
      const started = performance.now();
      const res = await t.api("POST", "/api/admin/hosting/cloudpods", { tenantId, domain });
      if (res.status !== 202) throw new Error(`order refused: ${JSON.stringify(res.body)}`);
      const podId = (res.body.data as { cloudPod: { id: string } }).cloudPod.id;
      for (;;) {
        const jobs = await prisma.job.findMany({ where: { cloudPodId: podId }, select: { status: true, type: true, errorMessage: true } });
        const failed = jobs.find((j) => j.status === "failed");
        if (failed) throw new Error(`${failed.type} failed: ${failed.errorMessage ?? ""}`);
        if (jobs.every((j) => j.status === "succeeded")) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      while ((await httpsStatus(platform.tlsPort, domain, root)) !== 200) await new Promise((r) => setTimeout(r, 5));
      total.push(performance.now() - started);
      const jobs = await prisma.job.findMany({ where: { cloudPodId: podId }, select: { type: true, startedAt: true, finishedAt: true } });
      for (const job of jobs) {
        if (!job.startedAt || !job.finishedAt) continue;
        const list = steps.get(job.type) ?? [];
        list.push(job.finishedAt.getTime() - job.startedAt.getTime());
        steps.set(job.type, list);
      }
      progress(`order ${i + 1}/${RUNS}: ${total.at(-1)?.toFixed(0)} ms`);
    }
    console.log(`(a) API order -> live HTTPS PHP site with DNS and mail (target <= 3000 ms): ${fmt(summarize(total))}`);
    for (const [type, samples] of steps) console.log(`    ${type.padEnd(24)} on its node: ${fmt(summarize(samples))}`);
  } finally {
    await Promise.all(agents.map((agent) => agent.stop(2000)));
    await platform.stop();
    await t.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function vhostAtScale(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "mpanel-bench-vhosts-"));
  const port = await freePort();
  const nginx = await startPrivateNginx({ prefix: join(dir, "nginx"), port });
  try {
    const root = join(dir, "www");
    await mkdir(root, { recursive: true });
    await writeFile(join(root, "index.html"), "ok\n");
    const block = (i: number) => renderServerBlock({
      websiteId: `bench-${i}`, domain: `v${i}.bench-vhosts.test`, aliases: [`www.v${i}.bench-vhosts.test`], listen: `127.0.0.1:${port}`,
      root, acmeWebroot: join(dir, "acme"), php: null, suspended: false, tls: null,
    });
    const driver = createNginx({ ...nginx.driverConfig, reloadTimeoutMs: 60_000 }, log);
    const seed = VHOSTS - 1;
    for (let i = 0; i < seed; i++) await writeFile(join(nginx.sitesDir, `v${i}.bench-vhosts.test.conf`), block(i).content);
    const first = block(seed);
    const t0 = performance.now();
    await driver.apply(`v${seed}.bench-vhosts.test.conf`, first.content, { host: `v${seed}.bench-vhosts.test`, revision: first.revision });
    progress(`loaded ${VHOSTS} server blocks in ${(performance.now() - t0).toFixed(0)} ms`);
    const samples: number[] = [];
    for (let s = 0; s < VHOST_SAMPLES; s++) {
      const i = VHOSTS + s;
      const next = block(i);
      const started = performance.now();
      await driver.apply(`v${i}.bench-vhosts.test.conf`, next.content, { host: `v${i}.bench-vhosts.test`, revision: next.revision });
      samples.push(performance.now() - started);
    }
    console.log(`(b) add one vhost with ${VHOSTS.toLocaleString("en")} existing (write, nginx -t, reload, serving; target <= 1000 ms): ${fmt(summarize(samples))}`);
  } finally {
    await nginx.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (RUNS > 0) await orderToLive();
if (VHOST_SAMPLES > 0) await vhostAtScale();
