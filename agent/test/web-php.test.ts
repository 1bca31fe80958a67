import { randomBytes, randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JobInput, JobType } from "@mpanel/proto";
import { execa } from "execa";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAgentConfig, type AgentConfig } from "../src/config";
import { freePort } from "../src/drivers/free-port";
import { httpGet } from "../src/drivers/nginx";
import { startPrivateNginx, type PrivateNginx } from "../src/drivers/nginx-instance";
import { socketAnswers } from "../src/drivers/php-fpm";
import { startPrivatePhpFpm, type PrivatePhpFpm } from "../src/drivers/php-fpm-instance";
import { lookupSystemUser, removeSystemUser } from "../src/drivers/system-users";
import { JobError, parsePayload, type JobContext } from "../src/jobs/define";
import { handlers } from "../src/jobs/index";
import { certificatePaths, docRoot, podRoot } from "../src/jobs/web/paths";
import { ensureSite } from "../src/jobs/web/website";
import { createServices } from "../src/services";

const log = pino({ level: "silent" });
const suffix = randomBytes(4).toString("hex");
const userA = `mpta${suffix}`;
const userB = `mptb${suffix}`;
const podA = randomUUID();
const podB = randomUUID();
const siteA: JobInput<"CREATE_WEBSITE"> = { websiteId: randomUUID(), cloudPodId: podA, systemUser: userA, domain: "php-a.test", aliases: ["www.php-a.test"], runtime: "php" };
const siteS: JobInput<"CREATE_WEBSITE"> = { websiteId: randomUUID(), cloudPodId: podB, systemUser: userB, domain: "static-b.test", aliases: [], runtime: "static" };
const WHOAMI = "<?php echo posix_getpwuid(posix_geteuid())['name'];\n";

/** Runs a handler the way the runner does: the payload goes through the shared schema first. */
async function runJob<T extends JobType>(ctx: JobContext, type: T, input: JobInput<T>): Promise<Record<string, unknown>> {
  const handler = handlers[type] as { run(p: unknown, c: JobContext): Promise<unknown> };
  return (await handler.run(parsePayload(type, JSON.stringify(input)), ctx)) as Record<string, unknown>;
}

/** The JobError a job failed with. */
async function jobError(p: Promise<unknown>): Promise<JobError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(JobError);
  return err as JobError;
}

/** Writes `content` into a site's document root as the pod user would (owned by it). */
async function plant(config: AgentConfig, user: string, domain: string, name: string, content: string): Promise<void> {
  const account = await lookupSystemUser(user);
  if (!account) throw new Error(`no user ${user}`);
  const path = join(docRoot(config, user, domain), name);
  await writeFile(path, content, { mode: 0o644 });
  await execa("chown", [`${account.uid}:${account.gid}`, path]);
}

/** One GET with Host `host` (and SNI for https:, whose test certificate is self-signed); returns status, Location and body. */
function rawGet(url: string, host: string): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = send(url, { servername: host, headers: { host }, rejectUnauthorized: false, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("web role: CloudPods, PHP-FPM pools and server blocks against private nginx + php-fpm", () => {
  let prefix: string;
  let nginx: PrivateNginx;
  let fpm: PrivatePhpFpm;
  let config: AgentConfig;
  let ctx: JobContext;
  const events: string[] = [];
  const contextFor = (c: AgentConfig): JobContext => ({
    config: c,
    services: createServices(c, log),
    event: (_level, message) => events.push(message),
    log,
    signal: new AbortController().signal,
  });
  const get = async (host: string, path = "/") => {
    const res = await httpGet(new URL(path, nginx.probeUrl), host, 5_000);
    if (!res) throw new Error(`no answer for ${host}${path}`);
    return res;
  };
  const rawConfig = (php: Record<string, unknown> | undefined) => ({
    coordinator: "127.0.0.1:1",
    stateDir: join(prefix, "state"),
    podsRoot: join(prefix, "pods"),
    acmeWebroot: join(prefix, "acme"),
    nginx: {
      binary: nginx.driverConfig.binary,
      prefix: nginx.prefix,
      confFile: nginx.confFile,
      sitesDir: nginx.sitesDir,
      probeUrl: nginx.probeUrl,
      errorLog: nginx.driverConfig.errorLog,
      listen: `127.0.0.1:${nginx.port}`,
      listenTls: `127.0.0.1:${nginx.tlsPort}`,
      reloadTimeoutMs: 5_000,
    },
    ...(php ? { php } : {}),
  });

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-web-"));
    await chmod(prefix, 0o755); // the pod users must reach their homes and sockets under it
    nginx = await startPrivateNginx({ prefix: join(prefix, "nginx"), port: await freePort(), tlsPort: await freePort() });
    fpm = await startPrivatePhpFpm({ prefix: join(prefix, "php") });
    config = parseAgentConfig(rawConfig(fpm.config));
    ctx = contextFor(config);
  });

  afterAll(async () => {
    await nginx?.stop();
    await fpm?.stop();
    expect(fpm?.pid()).toBeUndefined();
    for (const user of [userA, userB]) await removeSystemUser(user).catch(() => undefined);
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("serves a PHP page of a new CloudPod through nginx and its pool, as the CloudPod's own user", async () => {
    const pod = await runJob(ctx, "CREATE_CLOUDPOD", { cloudPodId: podA, systemUser: userA });
    expect(pod.pool).toBe("changed");
    const account = await lookupSystemUser(userA);
    expect(account).toMatchObject({ home: podRoot(config, userA), shell: "/usr/sbin/nologin" });
    expect(await socketAnswers(join(fpm.config.runDir, `${userA}.sock`))).toBe(true);

    expect(await runJob(ctx, "CREATE_WEBSITE", siteA)).toMatchObject({ outcome: "changed" });
    await plant(config, userA, siteA.domain, "whoami.php", WHOAMI);
    expect(await get(siteA.domain, "/whoami.php")).toEqual({ status: 200, body: userA });
    expect(await get("www.php-a.test", "/whoami.php")).toEqual({ status: 200, body: userA });
    const home = await get(siteA.domain, "/");
    expect(home.status).toBe(200);
    expect(home.body).toContain(`runs as ${userA}`);
    expect((await get(siteA.domain, "/missing.php")).status).toBe(404);

    // PHP writes as the pod user and stays inside the pod (open_basedir).
    await plant(config, userA, siteA.domain, "write.php", "<?php file_put_contents(__DIR__ . '/note.txt', 'hi'); echo @file_get_contents('/etc/passwd') === false ? 'confined' : 'open';\n");
    expect((await get(siteA.domain, "/write.php")).body).toBe("confined");
    expect((await stat(join(docRoot(config, userA, siteA.domain), "note.txt"))).uid).toBe(account?.uid);
  });

  it("lays the pod out so other pods' users cannot read it", async () => {
    await runJob(ctx, "CREATE_CLOUDPOD", { cloudPodId: podB, systemUser: userB, php: false });
    const root = await stat(podRoot(config, userA));
    expect(root.mode & 0o7777).toBe(0o2750);
    expect(root.uid).toBe((await lookupSystemUser(userA))?.uid);
    expect((await stat(join(podRoot(config, userA), "tmp"))).mode & 0o777).toBe(0o700);

    const secret = join(docRoot(config, userA, siteA.domain), "whoami.php");
    const asB = await execa("runuser", ["-u", userB, "--", "cat", secret], { reject: false });
    expect(asB.exitCode).not.toBe(0);
    expect(asB.stderr).toContain("Permission denied");
    expect((await execa("runuser", ["-u", userA, "--", "cat", secret])).stdout).toBe(WHOAMI.trimEnd());
  });

  it("serves a static site without executing PHP", async () => {
    expect(await runJob(ctx, "CREATE_WEBSITE", siteS)).toMatchObject({ outcome: "changed" });
    expect((await get(siteS.domain, "/")).body).toContain("hosted by mPanel");
    await plant(config, userB, siteS.domain, "whoami.php", WHOAMI);
    const res = await get(siteS.domain, "/whoami.php");
    expect(res.status).toBe(403);
    expect(res.body).not.toContain(userB);
    expect(res.body).not.toContain("posix_geteuid");
  });

  it("is idempotent: re-running the handlers changes nothing", async () => {
    const uid = (await lookupSystemUser(userA))?.uid;
    expect(await runJob(ctx, "CREATE_CLOUDPOD", { cloudPodId: podA, systemUser: userA })).toMatchObject({ pool: "unchanged", uid });
    expect(await runJob(ctx, "CREATE_WEBSITE", siteA)).toMatchObject({ outcome: "unchanged" });
    expect(await runJob(ctx, "CREATE_WEBSITE", siteS)).toMatchObject({ outcome: "unchanged" });
    expect((await get(siteA.domain, "/whoami.php")).body).toBe(userA);
  });

  it("suspends a CloudPod (503 page, pool stopped, ACME still answered) and unsuspends it", async () => {
    await mkdir(join(config.acmeWebroot, ".well-known", "acme-challenge"), { recursive: true });
    await writeFile(join(config.acmeWebroot, ".well-known", "acme-challenge", "tok-1"), "tok-1.thumb");
    const suspend = { cloudPodId: podA, systemUser: userA, suspended: true, sites: [siteA] };
    expect(await runJob(ctx, "SUSPEND_CLOUDPOD", suspend)).toMatchObject({ pool: "changed" });
    for (const path of ["/", "/whoami.php", "/note.txt"]) {
      const res = await get(siteA.domain, path);
      expect(res.status).toBe(503);
      expect(res.body).toContain("suspended");
    }
    expect(await get(siteA.domain, "/.well-known/acme-challenge/tok-1")).toEqual({ status: 200, body: "tok-1.thumb" });
    expect(await socketAnswers(join(fpm.config.runDir, `${userA}.sock`))).toBe(false);
    expect(await runJob(ctx, "SUSPEND_CLOUDPOD", suspend)).toMatchObject({ pool: "unchanged" });
    // A re-run CREATE_CLOUDPOD keeps the pool suspended.
    expect(await runJob(ctx, "CREATE_CLOUDPOD", { cloudPodId: podA, systemUser: userA })).toMatchObject({ pool: "unchanged" });
    expect(await socketAnswers(join(fpm.config.runDir, `${userA}.sock`))).toBe(false);

    expect(await runJob(ctx, "SUSPEND_CLOUDPOD", { ...suspend, suspended: false })).toMatchObject({ pool: "changed" });
    expect(await get(siteA.domain, "/whoami.php")).toEqual({ status: 200, body: userA });
  });

  it("serves HTTPS with the installed certificate, redirects HTTP, and keeps the old config when nginx refuses a new one", async () => {
    const paths = certificatePaths(config, siteA.domain);
    expect(paths).toEqual({ dir: join(config.stateDir, "tls", siteA.domain), certificate: join(paths.dir, "fullchain.pem"), privateKey: join(paths.dir, "privkey.pem") });
    await mkdir(paths.dir, { recursive: true });
    await execa("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", `/CN=${siteA.domain}`, "-keyout", paths.privateKey, "-out", paths.certificate]);

    const tlsSite = { ...siteA, tls: true };
    const applied = await runJob(ctx, "CREATE_WEBSITE", tlsSite);
    const https = `https://127.0.0.1:${nginx.tlsPort}`;
    expect(await rawGet(`${nginx.probeUrl}/whoami.php?x=1`, siteA.domain)).toMatchObject({ status: 301, location: `https://${siteA.domain}:${nginx.tlsPort}/whoami.php?x=1` });
    expect(await rawGet(`${https}/whoami.php`, "www.php-a.test")).toMatchObject({ status: 200, body: userA });
    expect(await get(siteA.domain, "/.well-known/acme-challenge/tok-1")).toEqual({ status: 200, body: "tok-1.thumb" });

    const good = await readFile(paths.certificate);
    await writeFile(paths.certificate, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
    const err = await jobError(ensureSite(parsePayload("CREATE_WEBSITE", JSON.stringify(tlsSite)), ctx));
    expect(err.code).toBe("nginx_config_rejected");
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/PEM|certificate/);
    expect((await get(siteA.domain, "/.well-known/mpanel-revision")).body).toBe(applied.revision);
    expect(await rawGet(`${https}/whoami.php`, siteA.domain)).toMatchObject({ status: 200, body: userA });

    await writeFile(paths.certificate, good);
    expect(await runJob(ctx, "CREATE_WEBSITE", siteA)).toMatchObject({ outcome: "changed" });
    expect(await get(siteA.domain, "/whoami.php")).toEqual({ status: 200, body: userA });
  });

  it("keeps the previous pool serving when php-fpm rejects a new pool config, failing with php-fpm's message", async () => {
    const poolFile = join(fpm.config.poolDir, `mpanel-${userA}.conf`);
    const before = await readFile(poolFile, "utf8");
    const bad = contextFor(parseAgentConfig(rawConfig({ ...fpm.config, nginxUser: `nouser${suffix}` })));
    const err = await jobError(runJob(bad, "CREATE_CLOUDPOD", { cloudPodId: podA, systemUser: userA }));
    expect(err.code).toBe("php_fpm_config_rejected");
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`cannot get uid for user 'nouser${suffix}'`);
    expect(await readFile(poolFile, "utf8")).toBe(before);
    expect(await get(siteA.domain, "/whoami.php")).toEqual({ status: 200, body: userA });
  });

  it("refuses PHP on a node without a php section, before creating anything", async () => {
    const noPhp = contextFor(parseAgentConfig(rawConfig(undefined)));
    const user = `mptc${suffix}`;
    const err = await jobError(runJob(noPhp, "CREATE_CLOUDPOD", { cloudPodId: randomUUID(), systemUser: user, php: true }));
    expect(err.code).toBe("service_not_configured");
    expect(err.retryable).toBe(false);
    expect(await lookupSystemUser(user)).toBeNull();
  });

  it("refuses to adopt an account mPanel did not create", async () => {
    const err = await jobError(runJob(ctx, "CREATE_CLOUDPOD", { cloudPodId: randomUUID(), systemUser: "www-data", php: false }));
    expect(err.code).toBe("system_user_not_managed");
    expect((await lookupSystemUser("www-data"))?.home).not.toBe(podRoot(config, "www-data"));
  });

  it("deletes websites and CloudPods: server block, pool, files and system user; repeating is fine", async () => {
    expect(await runJob(ctx, "DELETE_WEBSITE", { websiteId: siteS.websiteId, systemUser: userB, domain: siteS.domain })).toMatchObject({ outcome: "removed" });
    expect((await get(siteS.domain, "/")).status).toBe(404);

    const del = { cloudPodId: podA, systemUser: userA, domains: [siteA.domain] };
    expect(await runJob(ctx, "DELETE_CLOUDPOD", del)).toMatchObject({ pool: "removed", user: "removed" });
    expect((await get(siteA.domain, "/whoami.php")).status).toBe(404);
    expect(await lookupSystemUser(userA)).toBeNull();
    expect(await socketAnswers(join(fpm.config.runDir, `${userA}.sock`))).toBe(false);
    await expect(stat(podRoot(config, userA))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(fpm.config.poolDir, `mpanel-${userA}.conf`))).rejects.toThrow(/ENOENT/);
    expect(await runJob(ctx, "DELETE_CLOUDPOD", del)).toMatchObject({ pool: "absent", user: "absent" });

    expect(await runJob(ctx, "DELETE_CLOUDPOD", { cloudPodId: podB, systemUser: userB, domains: [siteS.domain] })).toMatchObject({ user: "removed" });
    expect(await lookupSystemUser(userB)).toBeNull();
  });
});
