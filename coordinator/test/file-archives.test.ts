import { randomBytes } from "node:crypto";
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, deflateRawSync, gzipSync } from "node:zlib";
import { Header } from "tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";
import { treeHash } from "./support/tree-hash";

const MiB = 1024 * 1024;

/** Every entry below `dir` as "path mode uid size" (readable when two trees differ). */
async function listing(dir: string, rel = "."): Promise<string[]> {
  const s = await lstat(join(dir, rel));
  const line = `${rel} ${s.mode.toString(8)} ${s.uid} ${s.isDirectory() ? "-" : s.size}`;
  if (!s.isDirectory()) return [line];
  const children = await Promise.all((await readdir(join(dir, rel))).sort().map((name) => listing(dir, join(rel, name))));
  return [line, ...children.flat()];
}

/** Bytes of the regular files below `dir` (links not followed), as the node's quota check counts them. */
async function usage(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const s = await lstat(join(dir, name));
    if (s.isFile()) total += s.size;
    else if (s.isDirectory()) total += await usage(join(dir, name));
  }
  return total;
}

/** One entry of a hand-made zip: its raw name, bytes, Unix mode, and (to lie) the uncompressed size its headers declare. */
interface ZipSpec {
  name: string;
  data: Buffer;
  unixMode?: number;
  declaredSize?: number;
}

/** A zip (PKWARE APPNOTE 4.3: local headers, deflated data, central directory, end record) with no checks on names, kinds or sizes. */
function craftZip(entries: ZipSpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const data = deflateRawSync(e.data);
    const crc = crc32(e.data);
    const size = e.declaredSize ?? e.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((e.unixMode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A gzipped tar (ustar headers from the `tar` package) with no checks on names or kinds. */
function craftTarGz(entries: Array<{ path: string; type: "File" | "SymbolicLink" | "Link" | "CharacterDevice"; data?: Buffer; linkpath?: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    const header = new Header({ path: e.path, type: e.type, size: data.length, mode: 0o644, mtime: new Date(0), linkpath: e.linkpath, devmaj: 1, devmin: 3 });
    header.encode();
    if (!header.block) throw new Error("tar header not encoded");
    blocks.push(header.block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

describe("file manager archives (jobs on the node, as the CloudPod's user)", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let tenantId: string;
  let podId: string;
  let root: string;
  let canary: string;
  let uid: number;
  let before: string;
  const files = (suffix: string) => `/api/admin/cloudpods/${podId}/files${suffix}`;

  /** Writes `data` at `rel` in the pod's root, owned by the pod's user (as if it had uploaded it). */
  async function put(rel: string, data: Buffer | string): Promise<void> {
    await writeFile(join(root, rel), data);
    await chown(join(root, rel), uid, uid);
  }

  /** Enqueues through the API (202 + job id) and waits for the job's end. */
  async function runJob(url: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await t.api("POST", files(url), body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return waitForJob(t, String(res.body.data?.jobId), ["succeeded", "failed"], 120_000);
  }

  /** Names in the root (and the pods directory above it) that an extraction left behind or escaped to. */
  async function leftovers(): Promise<string[]> {
    const inRoot = (await readdir(root)).filter((n) => n.startsWith(".mpanel-") || n.includes("escape") || n.startsWith("bomb-") || n.startsWith("evil-"));
    const above = (await readdir(node.config.podsRoot)).filter((n) => n.includes("escape"));
    return [...inRoot, ...above.map((n) => `../${n}`)];
  }

  beforeAll(async () => {
    t = await startTestCoordinator();
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Archives Co" });
    tenantId = (tenant.body.data?.tenant as { id: string }).id;
    const created = await t.api("POST", "/api/admin/cloudpods", { tenantId, name: "archives" });
    expect(created.status).toBe(202);
    expect((await waitForJob(t, String(created.body.data?.jobId))).status).toBe("succeeded");
    podId = (created.body.data?.pod as { id: string }).id;
    const pod = await t.coordinator.database.db.prisma.cloudPod.findUniqueOrThrow({ where: { id: podId } });
    root = join(node.config.podsRoot, pod.systemUser);
    uid = (await stat(root)).uid;

    // The tree to archive: text, 3 MiB of random bytes, an empty directory, a long name, odd modes.
    for (const dir of ["tree", "tree/sub", "tree/empty", `tree/${"d".repeat(120)}`]) {
      await mkdir(join(root, dir));
      await chown(join(root, dir), uid, uid);
    }
    // Directories in the root inherit its setgid bit; extraction keeps that and takes the permission bits from the archive.
    await chmod(join(root, "tree/empty"), 0o2750);
    await put("tree/hello.txt", "héllo\n");
    await put("tree/sub/random.bin", randomBytes(3 * MiB));
    await put(`tree/${"d".repeat(120)}/long-${"n".repeat(100)}.txt`, "long\n");
    await put("tree/sub/private.txt", "secret\n");
    await chmod(join(root, "tree/sub/private.txt"), 0o600);

    // A canary tree outside the root that the CloudPod's user could write to: only the door keeps it safe.
    canary = await mkdtemp(join(tmpdir(), "mpanel-canary-"));
    await chmod(canary, 0o755);
    await writeFile(join(canary, "a.txt"), "canary\n");
    for (const p of [canary, join(canary, "a.txt")]) await chown(p, uid, uid);
    before = await treeHash(canary);
  });
  afterAll(async () => {
    const deleted = podId ? await t.api("DELETE", `/api/admin/cloudpods/${podId}`) : null;
    if (deleted?.body.data?.jobId) await waitForJob(t, String(deleted.body.data.jobId));
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
    if (canary) await rm(canary, { recursive: true, force: true });
  });

  it.each([["tar.gz", "tree.tar.gz"], ["zip", "tree.zip"]])("creates a %s of a tree and extracts it elsewhere with identical content", { timeout: 120_000 }, async (format, name) => {
    const created = await runJob("/archive", { paths: ["tree"], destination: name, format });
    expect(created.status, String(created.errorMessage)).toBe("succeeded");
    expect(created.result).toMatchObject({ entries: 8, skipped: 0 });
    const archive = await stat(join(root, name));
    expect(archive.uid).toBe(uid);
    const progress = (created.events as Array<{ progress: number | null }>).map((e) => e.progress).filter((p): p is number => p !== null && p >= 0);
    expect(progress[0]).toBe(0);
    expect(progress.at(-1)).toBe(100);

    const extracted = await runJob("/extract", { path: name, destination: `out-${format}` });
    expect(extracted.status, String(extracted.errorMessage)).toBe("succeeded");
    expect(extracted.result).toMatchObject({ entries: 8, bytes: 3 * MiB + 7 + 5 + 7 });
    expect((extracted.events as Array<{ progress: number | null }>).some((e) => e.progress === 100)).toBe(true);
    expect(await listing(join(root, `out-${format}`, "tree"))).toEqual(await listing(join(root, "tree")));
    expect(await treeHash(join(root, `out-${format}`, "tree"))).toBe(await treeHash(join(root, "tree")));
    expect(await leftovers()).toEqual([]);

    // The destination must be new: a second extraction there changes nothing.
    const again = await runJob("/extract", { path: name, destination: `out-${format}` });
    expect(again).toMatchObject({ status: "failed", errorCode: "exists" });
    const audited = await t.coordinator.database.db.prisma.auditEvent.findMany({ where: { action: "FILES_CHANGED", targetId: podId } });
    expect(audited.map((a) => (a.data as { op: string }).op)).toEqual(expect.arrayContaining(["archive", "extract"]));
  });

  it("stops zip and tar.gz bombs on the inflated bytes and leaves nothing behind", { timeout: 120_000 }, async () => {
    const zeros = Buffer.alloc(16 * MiB);
    const limits = { maxBytes: 4 * MiB };
    await put("bomb-honest.zip", craftZip([{ name: "zeros.bin", data: zeros }]));
    await put("bomb-lying.zip", craftZip([{ name: "small.txt", data: zeros, declaredSize: 100 }]));
    await put("bomb-ratio.zip", craftZip([{ name: "zeros.bin", data: zeros }]));
    await put("bomb.tar.gz", craftTarGz([{ path: "zeros.bin", type: "File", data: zeros }]));
    const cases: Array<[string, unknown, string, RegExp]> = [
      ["bomb-honest.zip", limits, "limit_exceeded", /more than the limit of 4194304 bytes/],
      // The headers say 100 bytes: the inflated stream is cut off as soon as it runs past them.
      ["bomb-lying.zip", undefined, "invalid_archive", /small\.txt.*too many bytes/],
      ["bomb-ratio.zip", undefined, "limit_exceeded", /inflates more than 200 times/],
      ["bomb.tar.gz", limits, "limit_exceeded", /inflates (to more than the limit|more than 200 times)/],
    ];
    for (const [name, lim, code, message] of cases) {
      const job = await runJob("/extract", { path: name, destination: `${name}-out`, ...(lim ? { limits: lim } : {}) });
      expect(job.status, name).toBe("failed");
      expect(job.errorCode, `${name}: ${String(job.errorMessage)}`).toBe(code);
      expect(job.errorMessage, name).toMatch(message);
      await expect(lstat(join(root, `${name}-out`)), name).rejects.toThrow(/ENOENT/);
    }
    expect((await leftovers()).filter((n) => !n.startsWith("bomb-") && !n.startsWith("bomb."))).toEqual([]);
  });

  it("refuses archives with entries that climb out, absolute entries, links and devices, before writing anything", { timeout: 120_000 }, async () => {
    const evil: Array<[string, Buffer, RegExp]> = [
      ["evil-climb.zip", craftZip([{ name: "ok.txt", data: Buffer.from("ok") }, { name: "../../../escape.txt", data: Buffer.from("pwned") }]), /'\.\.' is refused/],
      ["evil-absolute.zip", craftZip([{ name: `${canary}/a.txt`, data: Buffer.from("pwned") }]), /absolute paths are refused/],
      ["evil-symlink.zip", craftZip([{ name: "link", data: Buffer.from(canary), unixMode: 0o120777 }, { name: "link/a.txt", data: Buffer.from("pwned") }]), /"link" is a symbolic link/],
      ["evil-climb.tar.gz", craftTarGz([{ path: "ok.txt", type: "File", data: Buffer.from("ok") }, { path: "../escape.txt", type: "File", data: Buffer.from("pwned") }]), /'\.\.' is refused/],
      ["evil-absolute.tar.gz", craftTarGz([{ path: `${canary}/a.txt`, type: "File", data: Buffer.from("pwned") }]), /absolute paths are refused/],
      ["evil-symlink.tar.gz", craftTarGz([{ path: "link", type: "SymbolicLink", linkpath: canary }, { path: "link/a.txt", type: "File", data: Buffer.from("pwned") }]), /"link" is a symbolic link/],
      ["evil-hardlink.tar.gz", craftTarGz([{ path: "hard", type: "Link", linkpath: `${canary}/a.txt` }]), /"hard" is a link/],
      ["evil-device.tar.gz", craftTarGz([{ path: "null", type: "CharacterDevice" }]), /"null" is a character device/],
    ];
    for (const [name, bytes, message] of evil) {
      await put(name, bytes);
      const job = await runJob("/extract", { path: name, destination: `${name}-out` });
      expect(job.status, name).toBe("failed");
      expect(job.errorCode, `${name}: ${String(job.errorMessage)}`).toBe("unsafe_entry");
      expect(job.errorMessage, name).toMatch(message);
      await expect(lstat(join(root, `${name}-out`)), name).rejects.toThrow(/ENOENT/);
    }
    expect((await leftovers()).filter((n) => !n.startsWith("bomb") && !n.startsWith("evil-"))).toEqual([]);
    expect(await treeHash(canary)).toBe(before);
    // Paths of the request itself go through the door's rules too.
    expect((await runJob("/extract", { path: "../tree.zip", destination: "x" })).errorCode).toBe("invalid_path");
    expect((await runJob("/archive", { paths: ["tree"], destination: "/tmp/out.zip", format: "zip" })).errorCode).toBe("invalid_path");
    expect((await t.api("POST", files("/extract"), { path: "tree/hello.txt", destination: "x" })).status).toBe(400);
  });

  it("refuses an upload and an extraction over the CloudPod's quota (its plan's diskMb) before writing", { timeout: 120_000 }, async () => {
    const prisma = t.coordinator.database.db.prisma;
    const used = await usage(root);
    const diskMb = Math.ceil(used / MiB) + 1;
    const product = await prisma.billingProduct.create({ data: { code: `quota-${Date.now()}`, name: "Quota plan", type: "hosting", quotas: { diskMb } } });
    const price = await prisma.billingPrice.create({ data: { productId: product.id, currency: "EUR", interval: "month", amountMinor: 500 } });
    const now = new Date();
    await prisma.billingSubscription.create({ data: {
      tenantId, productId: product.id, priceId: price.id, currency: "EUR", interval: "month", unitAmountMinor: 500,
      currentPeriodStart: now, currentPeriodEnd: new Date(now.getTime() + 30 * 86_400_000), cloudPodId: podId,
    } });

    const job = await runJob("/extract", { path: "tree.zip", destination: "out-quota" });
    expect(job.status).toBe("failed");
    expect(job.errorCode).toBe("quota_exceeded");
    expect(job.errorMessage).toMatch(/quota/);
    await expect(lstat(join(root, "out-quota"))).rejects.toThrow(/ENOENT/);
    expect(await usage(root)).toBe(used);

    // An upload of 3 MiB does not fit in the 1-2 MiB left: its first chunk is refused before a byte is written.
    const upload = (name: string, size: number, body: Buffer) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(t.coordinator.httpUrl);
      const req = request({ host: url.hostname, port: url.port, method: "PUT", path: files(`/upload?path=${name}&uploadId=quota-${name.replace(".", "-")}&offset=0&size=${size}`),
        headers: { authorization: `Bearer ${t.adminToken}`, "content-type": "application/octet-stream", "content-length": String(body.length) } }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("error", reject);
      req.end(body);
    });
    const refused = await upload("big.bin", 3 * MiB, randomBytes(MiB));
    expect(refused.status, refused.body).toBe(409);
    expect(JSON.parse(refused.body).message).toMatch(/^quota_exceeded: /);
    expect((await readdir(root)).filter((n) => n.includes("big.bin") || n.startsWith(".mpanel-upload-"))).toEqual([]);
    expect(await usage(root)).toBe(used);
    // What fits is still accepted.
    const accepted = await upload("small.bin", 1000, randomBytes(1000));
    expect(accepted.status, accepted.body).toBe(200);
    expect(await usage(root)).toBe(used + 1000);
  });

  it("answers another tenant's user 404 for archive and extract", async () => {
    const other = await t.api("POST", "/api/admin/tenants", { name: "Nosy Archives", owner: { email: "nosy@archives.test", name: "Nosy" } });
    expect(other.status).toBe(201);
    const password = String((other.body.data?.owner as { oneTimePassword: string }).oneTimePassword);
    const login = await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email: "nosy@archives.test", password } });
    const token = (JSON.parse(login.body) as { data: { token: string } }).data.token;
    expect((await t.api("POST", files("/archive"), { paths: ["tree"], destination: "stolen.zip", format: "zip" }, token)).status).toBe(404);
    expect((await t.api("POST", files("/extract"), { path: "tree.zip", destination: "stolen" }, token)).status).toBe(404);
    await expect(lstat(join(root, "stolen.zip"))).rejects.toThrow(/ENOENT/);
  });
});
