import { spawn, type ChildProcess } from "node:child_process";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, chown, lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningAgent } from "../../agent/src/agent";
import { prepareWebNode, startTestAgent, startTestCoordinator, waitForJob, type TestCoordinator, type TestWebNode } from "./support/harness";
import { treeHash } from "./support/tree-hash";

/**
 * Size of the resumable-upload test file (MiB): the 2 GiB by default (about 3.5 min on a
 * 2-core machine with other work on it); MPANEL_TEST_UPLOAD_MIB=256 for a quick run. The data is
 * generated and hashed as it streams, never held in memory or written anywhere but the CloudPod.
 */
const UPLOAD_MIB = Number(process.env.MPANEL_TEST_UPLOAD_MIB ?? 2048);

/**
 * Bytes [start, end) of a pseudo-random file that is never stored: AES-128-CTR over zeros under
 * `key`, so any offset can be produced again (to resume) without holding the file in memory or on disk.
 */
function generated(key: Buffer, start: number, end: number): Readable {
  const block = 4 * 1024 * 1024;
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(Math.floor(start / 16)), 8);
  const cipher = createCipheriv("aes-128-ctr", key, iv);
  const zeros = Buffer.alloc(block);
  async function* bytes(): AsyncGenerator<Buffer> {
    let skip = start % 16;
    for (let at = start; at < end;) {
      const piece = cipher.update(zeros.subarray(0, Math.min(block, end - at + skip))).subarray(skip);
      skip = 0;
      at += piece.length;
      yield piece;
    }
  }
  return Readable.from(bytes(), { objectMode: false });
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

describe("file manager over the agent stream", () => {
  let t: TestCoordinator;
  let node: TestWebNode;
  let agent: RunningAgent;
  let podId: string;
  let root: string;
  let canary: string;
  let uid: number;
  let before: string;
  const files = (suffix: string) => `/api/admin/cloudpods/${podId}/files${suffix}`;

  beforeAll(async () => {
    t = await startTestCoordinator();
    node = await prepareWebNode(t);
    agent = await startTestAgent(t, node);
    const tenant = await t.api("POST", "/api/admin/tenants", { name: "Files Co" });
    const tenantId = (tenant.body.data?.tenant as { id: string }).id;
    const created = await t.api("POST", "/api/admin/cloudpods", { tenantId, name: "files" });
    expect(created.status).toBe(202);
    expect((await waitForJob(t, String(created.body.data?.jobId))).status).toBe("succeeded");
    podId = (created.body.data?.pod as { id: string }).id;
    const pod = await t.coordinator.database.db.prisma.cloudPod.findUniqueOrThrow({ where: { id: podId } });
    root = join(node.config.podsRoot, pod.systemUser);
    uid = (await stat(root)).uid;

    // A canary tree outside the root that the CloudPod's user could write to: only the door keeps it safe.
    canary = await mkdtemp(join(tmpdir(), "mpanel-canary-"));
    await chmod(canary, 0o755);
    await writeFile(join(canary, "a.txt"), "canary\n");
    await mkdir(join(canary, "sub"));
    await writeFile(join(canary, "sub", "b.txt"), "canary b\n");
    for (const p of [canary, join(canary, "a.txt"), join(canary, "sub"), join(canary, "sub", "b.txt")]) await chown(p, uid, uid);
    await symlink(canary, join(root, "out"));
    await symlink(join(canary, "a.txt"), join(root, "outfile"));
    await execa("mknod", [join(root, "null"), "c", "1", "3"]);
    await execa("mkfifo", [join(root, "fifo")]);
    before = await treeHash(canary);
  });
  afterAll(async () => {
    // Deleting the CloudPod removes its system user from this machine.
    const deleted = podId ? await t.api("DELETE", `/api/admin/cloudpods/${podId}`) : null;
    if (deleted?.body.data?.jobId) await waitForJob(t, String(deleted.body.data.jobId));
    await agent?.stop(2000);
    await node?.stop();
    await t?.stop();
    if (canary) await rm(canary, { recursive: true, force: true });
  });

  it("lists, edits, copies, moves, chmods and deletes as the CloudPod's user", async () => {
    expect((await t.api("POST", files("/mkdir"), { path: "docs" })).status).toBe(201);
    expect((await t.api("PUT", files("/content"), { path: "docs/hello.txt", content: "héllo\n" })).status).toBe(200);
    const owner = await stat(join(root, "docs", "hello.txt"));
    expect(owner.uid).toBe(uid);
    expect((await t.api("GET", files("/content?path=docs/hello.txt"))).body.data?.content).toBe("héllo\n");
    expect((await t.api("POST", files("/copy"), { from: "docs", to: "docs-copy" })).body.data).toEqual({ copied: 2, skipped: 0 });
    expect((await t.api("POST", files("/rename"), { from: "docs-copy/hello.txt", to: "moved.txt" })).status).toBe(200);
    expect((await t.api("POST", files("/rename"), { from: "moved.txt", to: "docs/hello.txt" })).status).toBe(409);
    expect((await t.api("POST", files("/chmod"), { path: "moved.txt", mode: 0o600 })).status).toBe(200);
    expect((await stat(join(root, "moved.txt"))).mode & 0o777).toBe(0o600);
    const listing = await t.api("GET", files("?path=&pageSize=3&sort=name"));
    expect(listing.body.data?.total).toBeGreaterThan(3);
    expect((listing.body.data?.entries as Array<{ name: string }>).map((e) => e.name)).toEqual(["docs", "docs-copy", "fifo"]);
    expect((await t.api("POST", files("/delete"), { path: "docs-copy" })).body.data).toEqual({ removed: 1 });
    const space = await t.api("GET", files("/space"));
    expect(space.body.data?.freeBytes).toBeGreaterThan(0);
    const audited = await t.coordinator.database.db.prisma.auditEvent.findMany({ where: { action: "FILES_CHANGED", targetId: podId } });
    expect(audited.map((a) => (a.data as { op: string }).op)).toEqual(expect.arrayContaining(["mkdir", "write_text", "copy", "rename", "chmod", "delete"]));
  });

  it("refuses every escape with a clear error and leaves the canary tree unchanged", async () => {
    const cases: Array<[string, string, string, unknown, RegExp]> = [
      ["..", "GET", files("?path=../"), undefined, /invalid_path: '\.\.' is refused/],
      ["absolute", "GET", files("/stat?path=/etc/passwd"), undefined, /invalid_path: absolute paths/],
      ["NUL byte", "GET", files("/content?path=docs%00.txt"), undefined, /^invalid path$/],
      ["NUL byte (body)", "POST", files("/mkdir"), { path: "docs\u0000x" }, /^invalid path$/],
      ["symlink dir (read)", "GET", files("/content?path=out/a.txt"), undefined, /symlink_refused/],
      ["symlink dir (write)", "PUT", files("/content"), { path: "out/new.txt", content: "pwned" }, /symlink_refused/],
      ["symlink file (write)", "PUT", files("/content"), { path: "outfile", content: "pwned" }, /not_a_regular_file/],
      ["symlink file (read)", "GET", files("/content?path=outfile"), undefined, /symlink_refused/],
      ["symlink dir (mkdir)", "POST", files("/mkdir"), { path: "out/x" }, /symlink_refused/],
      ["symlink (chmod)", "POST", files("/chmod"), { path: "out", mode: 0o777 }, /not_a_regular_file/],
      ["rename out", "POST", files("/rename"), { from: "moved.txt", to: "../../escaped.txt" }, /invalid_path/],
      ["device file", "GET", files("/content?path=null"), undefined, /not_a_regular_file/],
      ["device download", "GET", files("/download?path=null"), undefined, /not a regular file/],
      ["FIFO", "GET", files("/content?path=fifo"), undefined, /not_a_regular_file/],
      ["upload through symlink", "GET", files("/upload?path=out/up.bin&uploadId=attack-0001"), undefined, /symlink_refused/],
    ];
    for (const [name, method, url, body, message] of cases) {
      const res = await t.api(method, url, body);
      expect(res.status, name).toBe(400);
      expect(res.body.message, name).toMatch(message);
    }
    expect((await t.api("POST", files("/copy"), { from: "out", to: "copied-link" })).body.data).toEqual({ copied: 0, skipped: 1 });
    expect((await t.api("POST", files("/delete"), { path: "outfile" })).status).toBe(200);
    expect((await lstat(join(canary, "a.txt"))).isFile()).toBe(true);
    expect(await treeHash(canary)).toBe(before);
  });

  it("never follows a directory swapped for a symlink between check and use", async () => {
    await mkdir(join(root, "race"));
    await chown(join(root, "race"), uid, uid);
    // Swaps root/race between the real directory and a symlink to the canary as fast as it can.
    const swapper: ChildProcess = spawn("bash", ["-c", `cd "${root}" && while true; do mv -T race race.real; ln -s "${canary}" race; rm race; mv -T race.real race; done`], { stdio: "ignore" });
    const outcomes = new Map<string, number>();
    try {
      for (let i = 0; i < 150; i++) {
        const results = await Promise.all([
          t.api("PUT", files("/content"), { path: "race/a.txt", content: `pwned ${i}` }),
          t.api("POST", files("/mkdir"), { path: `race/dir-${i}` }),
          t.api("POST", files("/delete"), { path: "race/sub" }),
          t.api("POST", files("/chmod"), { path: "race/sub", mode: 0o777 }),
        ]);
        for (const r of results) {
          const key = r.status === 200 || r.status === 201 ? "done" : String(r.body.message).split(":")[0] ?? "";
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
      }
    } finally {
      swapper.kill("SIGKILL");
    }
    expect(outcomes.get("symlink_refused"), "the swap was hit").toBeGreaterThan(0);
    expect([...outcomes.keys()].every((k) => ["done", "symlink_refused", "not_found", "not_a_directory"].includes(k)), JSON.stringify([...outcomes])).toBe(true);
    expect(await treeHash(canary)).toBe(before);
  });

  it(`uploads ${UPLOAD_MIB} MiB in chunks, survives an interruption, resumes and downloads it back intact`, { timeout: Math.max(600_000, UPLOAD_MIB * 400) }, async () => {
    const size = UPLOAD_MIB * 1024 * 1024;
    const key = randomBytes(16);
    const hashOf = async (stream: Readable): Promise<string> => {
      const hash = createHash("sha256");
      await pipeline(stream, hash);
      return hash.digest("hex");
    };
    const expected = await hashOf(generated(key, 0, size));
    const url = new URL(t.coordinator.httpUrl);
    const uploadUrl = (offset: number) => files(`/upload?path=site.bin&uploadId=upload-test-1&offset=${offset}&size=${size}`);
    const auth = { authorization: `Bearer ${t.adminToken}` };

    // First attempt: send about 40% and cut the connection.
    const cut = Math.floor(size * 0.4);
    await new Promise<void>((resolve) => {
      const req = request({ host: url.hostname, port: url.port, method: "PUT", path: uploadUrl(0), headers: { ...auth, "content-type": "application/octet-stream", "content-length": String(size) } });
      req.on("error", () => resolve());
      req.on("close", () => resolve());
      const part = generated(key, 0, cut);
      part.pipe(req, { end: false });
      part.on("end", () => setTimeout(() => req.destroy(), 200));
    });
    const status = async () => Number((await t.api("GET", files("/upload?path=site.bin&uploadId=upload-test-1"))).body.data?.received);
    // Chunks still under way when the connection dropped land a moment later: wait until the count holds for 1 s.
    let received = await status();
    for (let same = 0; same < 5;) {
      await new Promise((r) => setTimeout(r, 200));
      const now = await status();
      same = now === received ? same + 1 : 0;
      received = now;
    }
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThanOrEqual(cut);
    expect((await lstat(join(root, "site.bin")).catch(() => null))).toBeNull();

    // Resume from where the node stands.
    const finished = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, method: "PUT", path: uploadUrl(received), headers: { ...auth, "content-type": "application/octet-stream", "content-length": String(size - received) } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      generated(key, received, size).pipe(req);
    });
    expect(finished.status, finished.body).toBe(200);
    expect(JSON.parse(finished.body).data).toEqual({ received: size, complete: true });
    expect(await sha256File(join(root, "site.bin"))).toBe(expected);
    expect((await stat(join(root, "site.bin"))).uid).toBe(uid);

    const downloaded = await new Promise<{ hash: string; length: string | undefined }>((resolve, reject) => {
      request({ host: url.hostname, port: url.port, method: "GET", path: files("/download?path=site.bin"), headers: auth }, (res) => {
        const hash = createHash("sha256");
        res.on("data", (c: Buffer) => hash.update(c));
        res.on("end", () => resolve({ hash: hash.digest("hex"), length: res.headers["content-length"] }));
        res.on("error", reject);
      }).on("error", reject).end();
    });
    expect(downloaded).toEqual({ hash: expected, length: String(size) });
  });

  it("answers another tenant's user 404 for this CloudPod", async () => {
    const other = await t.api("POST", "/api/admin/tenants", { name: "Nosy Co", owner: { email: "nosy@files.test", name: "Nosy" } });
    expect(other.status).toBe(201);
    const password = String((other.body.data?.owner as { oneTimePassword: string }).oneTimePassword);
    const login = await t.coordinator.app.inject({ method: "POST", url: "/api/auth/login", payload: { email: "nosy@files.test", password } });
    const token = (JSON.parse(login.body) as { data: { token: string } }).data.token;
    expect((await t.api("GET", files("?path="), undefined, token)).status).toBe(404);
    expect((await t.api("PUT", files("/content"), { path: "x.txt", content: "x" }, token)).status).toBe(404);
  });
});
