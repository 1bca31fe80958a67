import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, readlink, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_VERSION } from "../../agent/src/version";
import { withJobs } from "../src/jobs/enqueue";
import { verifyUnits } from "./support/fake-root";
import { eventually, startTestCoordinator, waitForJob, type TestCoordinator } from "./support/harness";

/** `curl -fsSL <url>/install/agent.sh | bash -s -- <args>`, as an operator runs it. */
function runInstaller(url: string, args: string[]) {
  return execa("bash", ["-o", "pipefail", "-c", `curl -fsSL "$0/install/agent.sh" | bash -s -- "$@"`, url, ...args], { reject: false });
}

/** The layout UPGRADE_AGENT swaps: `opt/mpanel/versions/<version>/` and the link `opt/mpanel/agent` to it, nothing else. */
async function expectVersionedLayout(root: string): Promise<void> {
  const opt = join(root, "opt/mpanel");
  expect((await lstat(join(opt, "agent"))).isSymbolicLink()).toBe(true);
  expect(await readlink(join(opt, "agent"))).toBe(join("versions", AGENT_VERSION));
  expect((await stat(join(opt, "versions", AGENT_VERSION, "agent.mjs"))).isFile()).toBe(true);
  expect((await readdir(opt)).sort()).toEqual(["agent", "node", "versions"]);
  expect(await readdir(join(opt, "versions"))).toEqual([AGENT_VERSION]);
}

describe("one-line agent install into a fake root", () => {
  let t: TestCoordinator;
  let root: string;
  let badRoot: string;
  let agent: ChildProcess | undefined;
  const grpc = () => `127.0.0.1:${t.coordinator.grpcPort}`;

  async function newToken(): Promise<{ id: string; token: string }> {
    const res = await t.api("POST", "/api/admin/join-tokens", { roles: ["web"], ttlSeconds: 600 });
    expect(res.status).toBe(201);
    return { id: String(res.body.data?.id), token: String(res.body.data?.token) };
  }
  async function tokenUsedAt(id: string): Promise<Date | null> {
    const { rows } = await t.coordinator.database.db.pool.query<{ used_at: Date | null }>("SELECT used_at FROM join_tokens WHERE id = $1", [id]);
    expect(rows).toHaveLength(1);
    return rows[0]?.used_at ?? null;
  }

  beforeAll(async () => {
    t = await startTestCoordinator();
    root = await mkdtemp(join(tmpdir(), "mpanel-root-"));
    badRoot = await mkdtemp(join(tmpdir(), "mpanel-root-bad-"));
  });
  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((resolve) => agent?.once("exit", resolve));
      agent.kill("SIGTERM");
      await exited;
    }
    await t?.stop();
    for (const dir of [root, badRoot]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("serves the installer with this coordinator's defaults and a bundle matching its hash", async () => {
    const script = await fetch(`${t.coordinator.httpUrl}/install/agent.sh`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toMatch(/^text\/x-shellscript/);
    const text = await script.text();
    expect(text).toContain(`DEFAULT_COORDINATOR='${grpc()}'`);
    expect(text).not.toContain("@@MPANEL_");
    const bundle = await fetch(`${t.coordinator.httpUrl}/install/agent.tar.gz`);
    expect(bundle.headers.get("content-type")).toBe("application/gzip");
    const sha256 = createHash("sha256").update(Buffer.from(await bundle.arrayBuffer())).digest("hex");
    expect(text).toContain(`BUNDLE_SHA256='${sha256}'`);
  });

  it("refuses a coordinator whose CA does not match --ca-hash before sending the token", async () => {
    const token = await newToken();
    const res = await runInstaller(t.coordinator.httpUrl, ["--insecure-http", "--root", badRoot, "--no-start", "--roles", "web", "--token", token.token, "--ca-hash", `sha256:${"0".repeat(64)}`]);
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toMatch(/does not match --ca-hash; the token was NOT sent/);
    expect(res.stderr).toMatch(/what to do:/);
    expect(await tokenUsedAt(token.id)).toBeNull();
    expect((await t.api("GET", "/api/admin/servers")).body.meta?.total).toBe(0);
    await expect(stat(join(badRoot, "var/lib/mpanel-agent/node.key"))).rejects.toThrow();
  });

  it("refuses plain HTTP without --insecure-http, saying what to do", async () => {
    const res = await runInstaller(t.coordinator.httpUrl, ["--root", badRoot, "--no-start", "--token", "x", "--ca-hash", t.coordinator.caHash]);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/refusing to download the agent over plain HTTP[\s\S]*what to do: use the coordinator's https:\/\/ URL/);
  });

  it("installs files, unit and config, enrolls, and the installed agent runs a job", async () => {
    const token = await newToken();
    const res = await runInstaller(t.coordinator.httpUrl, ["--insecure-http", "--root", root, "--no-start", "--roles", "web", "--token", token.token, "--ca-hash", t.coordinator.caHash]);
    expect(res.stderr).toMatch(/enrolled as node/);
    expect(res.exitCode).toBe(0);
    expect(await tokenUsedAt(token.id)).not.toBeNull();
    await expectVersionedLayout(root);

    const config = JSON.parse(await readFile(join(root, "etc/mpanel/agent.json"), "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({ coordinator: grpc(), roles: ["web"], stateDir: join(root, "var/lib/mpanel-agent"), podsRoot: join(root, "srv/mpanel/pods") });
    expect((await stat(join(root, "var/lib/mpanel-agent"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, "etc/mpanel/restic-password"))).mode & 0o777).toBe(0o600);
    const nodeId = (await readFile(join(root, "var/lib/mpanel-agent/node-id"), "utf8")).trim();
    expect((await t.api("GET", `/api/admin/servers/${nodeId}`)).status).toBe(200);
    expect(await readlink(join(root, "etc/systemd/system/multi-user.target.wants/mpanel-agent.service"))).toBe("/etc/systemd/system/mpanel-agent.service");
    expect(await readFile(join(root, "etc/systemd/system/mpanel-agent.service"), "utf8")).toBe(await readFile(join(import.meta.dirname, "../../systemd/mpanel-agent.service"), "utf8"));
    const verified = await verifyUnits(root, ["mpanel-agent.service"]);
    expect(verified.stderr).toBe("");
    expect(verified.exitCode).toBe(0);

    // The installed agent, started the way its unit starts it (paths inside the fake root).
    agent = spawn(join(root, "opt/mpanel/node/bin/node"), [join(root, "opt/mpanel/agent/agent.mjs"), "--config", join(root, "etc/mpanel/agent.json")], { stdio: "ignore", env: { ...process.env, LOG_LEVEL: "warn" } });
    await eventually("the installed agent to connect", async () => (await t.api("GET", `/api/admin/servers/${nodeId}`)).body.data?.status === "online");
    const job = await withJobs(t.coordinator.database.db, t.coordinator.wakeups, (_tx, enqueue) => enqueue({ type: "NOOP", payload: {}, targetServerId: nodeId, idempotencyKey: `install-${randomUUID()}` }));
    expect((await waitForJob(t, job.id)).status).toBe("succeeded");
  });

  it("installs the SFTP backup key 0600 under the state dir, and refuses one that is not a usable private key", async () => {
    const keys = await mkdtemp(join(tmpdir(), "mpanel-keys-"));
    try {
      await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keys, "backup-key")]);
      await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret", "-f", join(keys, "locked-key")]);
      const installed = join(root, "var/lib/mpanel-agent/backup/sftp-key");
      for (const bad of [join(keys, "backup-key.pub"), join(keys, "locked-key"), join(keys, "missing")]) {
        const refused = await runInstaller(t.coordinator.httpUrl, ["--insecure-http", "--root", root, "--no-start", "--roles", "web", "--backup-ssh-key", bad]);
        expect(refused.exitCode, bad).toBe(1);
        expect(refused.stderr).toMatch(/--backup-ssh-key: [\s\S]*what to do:/);
        await expect(lstat(installed)).rejects.toThrow();
      }
      const res = await runInstaller(t.coordinator.httpUrl, ["--insecure-http", "--root", root, "--no-start", "--roles", "web", "--backup-ssh-key", join(keys, "backup-key")]);
      expect(res.exitCode).toBe(0);
      expect((await stat(installed)).mode & 0o777).toBe(0o600);
      expect((await stat(join(root, "var/lib/mpanel-agent/backup"))).mode & 0o777).toBe(0o700);
      expect(await readFile(installed, "utf8")).toBe(await readFile(join(keys, "backup-key"), "utf8"));
    } finally {
      await rm(keys, { recursive: true, force: true });
    }
  });

  it("re-runs safely: no new enrollment, the operator's config edits kept", async () => {
    const configFile = join(root, "etc/mpanel/agent.json");
    const edited = { ...JSON.parse(await readFile(configFile, "utf8")) as Record<string, unknown>, slots: 7 };
    await execa("bash", ["-c", `cat > "$0" <<'EOF'\n${JSON.stringify(edited)}\nEOF`, configFile]);
    const nodeId = await readFile(join(root, "var/lib/mpanel-agent/node-id"), "utf8");
    const res = await runInstaller(t.coordinator.httpUrl, ["--insecure-http", "--root", root, "--no-start", "--roles", "web"]);
    expect(res.stderr).toMatch(/already enrolled/);
    expect(res.exitCode).toBe(0);
    await expectVersionedLayout(root);
    expect(JSON.parse(await readFile(configFile, "utf8"))).toMatchObject({ slots: 7, roles: ["web"] });
    expect(await readFile(join(root, "var/lib/mpanel-agent/node-id"), "utf8")).toBe(nodeId);
    expect((await t.api("GET", "/api/admin/servers")).body.meta?.total).toBe(1);
  });

  it("converts an install from before the versioned layout (a plain agent directory) on re-run", async () => {
    const opt = join(root, "opt/mpanel");
    await rm(join(opt, "agent"));
    await rename(join(opt, "versions", AGENT_VERSION), join(opt, "agent"));
    await rm(join(opt, "versions"), { recursive: true });
    expect((await lstat(join(opt, "agent"))).isDirectory()).toBe(true);
    const res = await runInstaller(t.coordinator.httpUrl, ["--insecure-http", "--root", root, "--no-start", "--roles", "web"]);
    expect(res.exitCode).toBe(0);
    await expectVersionedLayout(root);
  });

  it("uninstalls: unit, bundle and config gone, identity kept unless --purge", async () => {
    const res = await runInstaller(t.coordinator.httpUrl, ["--insecure-http", "--root", root, "--uninstall"]);
    expect(res.exitCode).toBe(0);
    for (const path of ["etc/systemd/system/mpanel-agent.service", "etc/systemd/system/multi-user.target.wants/mpanel-agent.service", "opt/mpanel/agent", "opt/mpanel/versions", "etc/mpanel/agent.json"]) {
      await expect(lstat(join(root, path)), path).rejects.toThrow();
    }
    expect((await stat(join(root, "var/lib/mpanel-agent/node.key"))).isFile()).toBe(true);
    expect((await runInstaller(t.coordinator.httpUrl, ["--root", root, "--uninstall", "--purge"])).exitCode).toBe(0);
    await expect(lstat(join(root, "var/lib/mpanel-agent"))).rejects.toThrow();
  });
});
