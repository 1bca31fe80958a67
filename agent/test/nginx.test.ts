import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { freePort } from "../src/drivers/free-port";
import { createNginx, httpGet, NginxError, type Nginx } from "../src/drivers/nginx";
import { startPrivateNginx, type PrivateNginx } from "../src/drivers/nginx-instance";

const log = pino({ level: "silent" });

/** A server block as the agent renders one: a static root plus the revision probe location. */
function renderSite(s: { host: string; port: number; root: string; revision: string; extra?: string }): string {
  return [
    "server {",
    `  listen 127.0.0.1:${s.port};`,
    `  server_name ${s.host};`,
    `  root ${s.root};`,
    `  location = /.well-known/mpanel-revision { default_type text/plain; return 200 "${s.revision}"; }`,
    ...(s.extra ? [`  ${s.extra}`] : []),
    "}",
    "",
  ].join("\n");
}

/** Makes a document root under the prefix holding index.html with `page`. */
async function docRoot(prefix: string, name: string, page: string): Promise<string> {
  const root = join(prefix, "www", name);
  await mkdir(root, { recursive: true });
  await writeFile(join(root, "index.html"), page);
  return root;
}

/** The thrown error, asserted to be an NginxError. */
async function nginxError(p: Promise<unknown>): Promise<NginxError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(NginxError);
  return err as NginxError;
}

describe("nginx driver against a private nginx", () => {
  let prefix: string;
  let instance: PrivateNginx;
  let nginx: Nginx;
  const get = async (host: string, path = "/") => {
    const res = await httpGet(new URL(path, instance.probeUrl), host, 2_000);
    if (!res) throw new Error(`no answer for ${host}${path}`);
    return res;
  };

  beforeAll(async () => {
    prefix = await mkdtemp(join(tmpdir(), "mpanel-nginx-"));
    instance = await startPrivateNginx({ prefix, port: await freePort() });
    nginx = createNginx({ ...instance.driverConfig, reloadTimeoutMs: 5_000 }, log);
  });

  afterAll(async () => {
    await instance?.stop();
    expect(instance?.pid()).toBeUndefined();
    if (prefix) await rm(prefix, { recursive: true, force: true });
  });

  it("reports a semver-like version, and null for a missing binary", async () => {
    expect(await nginx.version()).toMatch(/^\d+\.\d+\.\d+$/);
    const missing = createNginx({ ...instance.driverConfig, binary: join(prefix, "no-such-nginx") }, log);
    expect(await missing.version()).toBeNull();
  });

  it("serves an applied site, and reports an identical apply as unchanged", async () => {
    const root = await docRoot(prefix, "a", "<h1>site a</h1>\n");
    const block = renderSite({ host: "site-a.test", port: instance.port, root, revision: "a-1" });
    expect((await get("site-a.test")).status).toBe(404);

    expect(await nginx.apply("site-a.test.conf", block, { host: "site-a.test", revision: "a-1" })).toBe("changed");
    expect(await get("site-a.test")).toEqual({ status: 200, body: "<h1>site a</h1>\n" });
    expect(await nginx.apply("site-a.test.conf", block, { host: "site-a.test", revision: "a-1" })).toBe("unchanged");
    expect((await readdir(instance.sitesDir)).sort()).toEqual(["site-a.test.conf"]);
  });

  it("rejects a block nginx refuses and keeps serving the previous one", async () => {
    const root = await docRoot(prefix, "b", "old page\n");
    const good = renderSite({ host: "site-b.test", port: instance.port, root, revision: "b-1" });
    await nginx.apply("site-b.test.conf", good, { host: "site-b.test", revision: "b-1" });

    const bad = renderSite({ host: "site-b.test", port: instance.port, root, revision: "b-2", extra: "frobnicate on;" });
    const err = await nginxError(nginx.apply("site-b.test.conf", bad, { host: "site-b.test", revision: "b-2" }));
    expect(err.code).toBe("config_rejected");
    expect(err.output).toContain('unknown directive "frobnicate"');

    expect(await get("site-b.test")).toEqual({ status: 200, body: "old page\n" });
    expect(await readFile(join(instance.sitesDir, "site-b.test.conf"), "utf8")).toBe(good);
    expect((await nginx.test()).ok).toBe(true);
  });

  it("deletes a new file nginx refuses, leaving no trace", async () => {
    const bad = renderSite({ host: "site-n.test", port: instance.port, root: prefix, revision: "n-1", extra: "frobnicate on;" });
    await nginxError(nginx.apply("site-n.test.conf", bad, { host: "site-n.test", revision: "n-1" }));
    expect(await readdir(instance.sitesDir)).not.toContain("site-n.test.conf");
    expect((await nginx.test()).ok).toBe(true);
  });

  it("removes a site so its host falls through to the default 404", async () => {
    const root = await docRoot(prefix, "c", "site c\n");
    await nginx.apply("site-c.test.conf", renderSite({ host: "site-c.test", port: instance.port, root, revision: "c-1" }), { host: "site-c.test", revision: "c-1" });
    expect((await get("site-c.test")).body).toBe("site c\n");

    expect(await nginx.remove("site-c.test.conf", { host: "site-c.test" })).toBe("removed");
    expect((await get("site-c.test")).status).toBe(404);
    expect(await nginx.remove("site-c.test.conf", { host: "site-c.test", revision: "c-1" })).toBe("absent");
  });

  it("rolls back a block that passes nginx -t but cannot be loaded (port taken)", async () => {
    const root = await docRoot(prefix, "d", "d one\n");
    await nginx.apply("site-d.test.conf", renderSite({ host: "site-d.test", port: instance.port, root, revision: "d-1" }), { host: "site-d.test", revision: "d-1" });

    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const busyPort = (busy.address() as { port: number }).port;
    try {
      const taken = renderSite({ host: "site-d.test", port: instance.port, root, revision: "d-2", extra: `listen 127.0.0.1:${busyPort};` });
      const impatient = createNginx({ ...instance.driverConfig, reloadTimeoutMs: 1_500 }, log);
      const err = await nginxError(impatient.apply("site-d.test.conf", taken, { host: "site-d.test", revision: "d-2" }));
      expect(err.code).toBe("not_serving");
      expect(err.output).toContain("Address already in use");
    } finally {
      busy.close();
    }
    expect(await get("site-d.test", "/.well-known/mpanel-revision")).toEqual({ status: 200, body: "d-1" });
    expect(await get("site-d.test")).toEqual({ status: 200, body: "d one\n" });
  });

  it("serializes concurrent applies and refuses file names outside the sites directory", async () => {
    const hosts = ["site-e.test", "site-f.test", "site-g.test"];
    const results = await Promise.all(
      hosts.map(async (host) => {
        const root = await docRoot(prefix, host, `${host}\n`);
        return nginx.apply(`${host}.conf`, renderSite({ host, port: instance.port, root, revision: `${host}-1` }), { host, revision: `${host}-1` });
      }),
    );
    expect(results).toEqual(["changed", "changed", "changed"]);
    for (const host of hosts) expect((await get(host)).body).toBe(`${host}\n`);

    for (const name of ["../evil.conf", "evil", "Evil.conf", ".hidden.conf", "a/b.conf"]) {
      expect((await nginxError(nginx.apply(name, "", { host: "x", revision: "x" }))).code).toBe("invalid_argument");
    }
    expect((await nginxError(nginx.remove("ok.conf", { host: "evil\r\nx: y" }))).code).toBe("invalid_argument");
  });
});
