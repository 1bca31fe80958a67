/**
 * bench/files: file manager throughput (MiB/s) for one large file, beside scp.
 *
 * mPanel: upload with one `PUT /api/admin/cloudpods/:id/files/upload` (the resumable upload
 * route, whole file from offset 0; the coordinator relays it to the agent in 1 MiB chunks) and
 * download with `GET .../files/download` (the coordinator pulls 1 MiB chunks from the agent),
 * over plain HTTP on loopback, as the bench's HTTP client. Peer: `scp` of the same file to and
 * from a private sshd on loopback (agent/src/drivers/sshd-instance.ts; OpenSSH 9's scp uses the SFTP protocol).
 *
 * The source file (FILE_MIB MiB, default 1024) is written once to a temp dir, streamed from a
 * 4 MiB random block repeated (never the whole file in memory); both sides read it from there
 * and write downloads to files in the same temp dir. Sizes are checked after every transfer.
 * Prints MiB/s; never passes or fails. Run as root:
 * `source install/env.sh && npx tsx bench/files/main.ts` (`FILE_MIB=256` for a quick run).
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import { loadText, printReport } from "../print";
import { startBenchPod, type BenchPod } from "../terminal/pod";
import { startPrivateSshd, type PrivateSshd } from "../../agent/src/drivers/sshd-instance";

/** The 1/5/15-minute load averages when the bench started (the machine is shared). */
const loadAtStart = loadText();
const FILE_MIB = Number(process.env.FILE_MIB ?? 1024);
const SIZE = FILE_MIB * 1024 * 1024;
const BLOCK = 4 * 1024 * 1024;

const progress = (line: string): void => {
  process.stderr.write(`[files] ${line}\n`);
};

/** Writes `size` bytes to `path`: one random 4 MiB block repeated. */
async function writeSource(path: string, size: number): Promise<void> {
  const block = randomBytes(BLOCK);
  async function* blocks(): AsyncGenerator<Buffer> {
    for (let written = 0; written < size; written += BLOCK) yield block.subarray(0, Math.min(BLOCK, size - written));
  }
  await pipeline(blocks(), createWriteStream(path));
}

/** Seconds `fn` takes. */
async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

/** Throws unless `path` holds exactly SIZE bytes. */
async function checkSize(path: string, what: string): Promise<void> {
  const { size } = await stat(path);
  if (size !== SIZE) throw new Error(`${what}: ${size} bytes, expected ${SIZE}`);
}

/** One request to the coordinator's HTTP API with the admin's bearer token; resolves on the response's end. */
function http(pod: BenchPod, method: "PUT" | "GET", path: string, body: NodeJS.ReadableStream | null, sink: NodeJS.WritableStream | null): Promise<void> {
  const url = new URL(pod.t.coordinator.httpUrl);
  const headers: Record<string, string> = { authorization: `Bearer ${pod.t.adminToken}` };
  if (body) Object.assign(headers, { "content-type": "application/octet-stream", "content-length": String(SIZE) });
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      if (res.statusCode !== 200) {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`)));
        return;
      }
      if (sink) pipeline(res, sink).then(resolve, reject);
      else res.resume().on("end", resolve).on("error", reject);
    });
    req.on("error", reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

async function mpanel(pod: BenchPod, source: string, dir: string): Promise<{ upload: number; download: number }> {
  const files = `/api/admin/cloudpods/${pod.podId}/files`;
  const upload = await timed(() => http(pod, "PUT", `${files}/upload?path=bench.bin&uploadId=bench-files-1&offset=0&size=${SIZE}`, createReadStream(source), null));
  await checkSize(join(pod.root, "bench.bin"), "mPanel upload");
  progress(`mPanel upload: ${(upload).toFixed(1)} s`);
  const target = join(dir, "mpanel-download.bin");
  const download = await timed(() => http(pod, "GET", `${files}/download?path=bench.bin`, null, createWriteStream(target)));
  await checkSize(target, "mPanel download");
  progress(`mPanel download: ${(download).toFixed(1)} s`);
  await rm(target);
  await rm(join(pod.root, "bench.bin"));
  return { upload, download };
}

async function scp(sshd: PrivateSshd, source: string, dir: string): Promise<{ upload: number; download: number }> {
  const args = ["-q", ...sshd.options, "-P", String(sshd.port)];
  const remote = join(dir, "scp-upload.bin");
  const upload = await timed(async () => void (await execa("scp", [...args, source, `${sshd.target}:${remote}`])));
  await checkSize(remote, "scp upload");
  progress(`scp upload: ${upload.toFixed(1)} s`);
  const target = join(dir, "scp-download.bin");
  const download = await timed(async () => void (await execa("scp", [...args, `${sshd.target}:${source}`, target])));
  await checkSize(target, "scp download");
  progress(`scp download: ${download.toFixed(1)} s`);
  await rm(target);
  await rm(remote);
  return { upload, download };
}

const dir = await mkdtemp(join(tmpdir(), "mpanel-bench-files-"));
const sshd = await startPrivateSshd();
let pod: BenchPod | null = null;
try {
  pod = await startBenchPod("files");
  const source = join(dir, "source.bin");
  await writeSource(source, SIZE);
  progress(`source: ${FILE_MIB} MiB written`);
  const ours = await mpanel(pod, source, dir);
  const peer = await scp(sshd, source, dir);
  const rate = (seconds: number): number => FILE_MIB / seconds;
  const cell = (v: number): string => v.toFixed(1).padStart(10);
  printReport([
    `file transfer of ${FILE_MIB} MiB over loopback (MiB/s)`,
    `${"".padEnd(34)} ${"upload".padStart(10)} ${"download".padStart(10)}`,
    `${"mPanel (HTTP -> coordinator -> agent)".padEnd(34)} ${cell(rate(ours.upload))} ${cell(rate(ours.download))}`,
    `${"scp (OpenSSH, loopback)".padEnd(34)} ${cell(rate(peer.upload))} ${cell(rate(peer.download))}`,
    `mPanel/scp: upload ${(peer.upload / ours.upload).toFixed(2)}, download ${(peer.download / ours.download).toFixed(2)} (target: >= 0.8)`,
  ], loadAtStart, {
    bench: "files", mib: FILE_MIB,
    mpanel: { uploadMiBps: rate(ours.upload), downloadMiBps: rate(ours.download) },
    scp: { uploadMiBps: rate(peer.upload), downloadMiBps: rate(peer.download) },
  });
} finally {
  await pod?.stop();
  await sshd.stop();
  await rm(dir, { recursive: true, force: true });
}
