/**
 * bench/terminal: keystroke echo round trip of the web terminal, beside ssh.
 *
 * mPanel: a WebSocket client that speaks as the panel's xterm.js does (session cookie, binary
 * frames) to `GET /api/admin/cloudpods/:id/terminal` -> coordinator -> gRPC stream (mTLS) ->
 * agent -> node-pty running bash as the CloudPod's user, and back.
 * Peer: `ssh -tt` to a private sshd on loopback (agent/src/drivers/sshd-instance.ts), root's bash in a pty.
 *
 * Both shells run `exec cat >/dev/null`, so every echo comes from the pty's line discipline
 * and nothing else writes output. Then, one keystroke at a time: send one letter, wait until it
 * comes back, stamp the time (after `WARMUP` unrecorded keystrokes; every 64 letters an untimed
 * Enter keeps the line short). Prints p50/p90/p99/max in ms; never passes or fails.
 * Run as root: `source install/env.sh && npx tsx bench/terminal/main.ts` (KEYSTROKES=1000 default).
 */
import { spawn } from "node:child_process";
import { loadText, printReport } from "../print";
import { SESSION_COOKIE } from "../../coordinator/src/http/auth-hook";
import { summarize, type LatencySummary } from "../dispatch/stats";
import { startBenchPod } from "./pod";
import { startPrivateSshd } from "../../agent/src/drivers/sshd-instance";

/** The 1/5/15-minute load averages when the bench started (the machine is shared). */
const loadAtStart = loadText();
const KEYSTROKES = Number(process.env.KEYSTROKES ?? 1000);
/** AGENT_PROCESS=1: the agent runs as its own process instead of in the bench's (the harness's way). */
const AGENT_PROCESS = process.env.AGENT_PROCESS === "1";
const WARMUP = 100;
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

const progress = (line: string): void => {
  process.stderr.write(`[terminal] ${line}\n`);
};

/** A byte pipe to a shell in a pty: write keystrokes, get output. */
interface Pty {
  write(text: string): void;
  onData(listener: (text: string) => void): void;
  close(): Promise<void>;
}

/** Resolves once no output arrived for `quietMs` since `activity.last` (Date.now() ms), or after `maxMs`. */
function quiet(activity: { last: number }, quietMs: number, maxMs: number): Promise<void> {
  const start = Date.now();
  return new Promise((resolve) => {
    const check = setInterval(() => {
      if (Date.now() - activity.last >= quietMs || Date.now() - start >= maxMs) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
}

/** Runs the echo protocol on `pty`; the recorded round trips (ms). Throws if an echo takes over 10 s. */
async function echoRoundTrips(pty: Pty, count: number): Promise<number[]> {
  const seen = { last: Date.now(), text: "" };
  let waiting: { char: string; resolve: () => void } | null = null;
  pty.onData((text) => {
    seen.last = Date.now();
    seen.text += text;
    if (waiting && seen.text.includes(waiting.char)) {
      const w = waiting;
      waiting = null;
      w.resolve();
    }
  });
  const keystroke = (char: string): Promise<number> => new Promise((resolve, reject) => {
    seen.text = "";
    const started = performance.now();
    const timer = setTimeout(() => reject(new Error(`no echo of ${JSON.stringify(char)} within 10 s`)), 10_000);
    waiting = {
      char,
      resolve: () => {
        clearTimeout(timer);
        resolve(performance.now() - started);
      },
    };
    pty.write(char);
  });
  await quiet(seen, 500, 10_000);
  pty.write("exec cat >/dev/null\r");
  await quiet(seen, 500, 10_000);
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + count; i++) {
    if (i > 0 && i % 64 === 0) await keystroke("\r");
    const ms = await keystroke(LETTERS[i % LETTERS.length] ?? "a");
    if (i >= WARMUP) samples.push(ms);
  }
  return samples;
}

/** The web terminal of CloudPod `podId` as the browser opens it. */
function openWebTerminal(httpUrl: string, podId: string, token: string): Promise<Pty> {
  const url = `${httpUrl.replace(/^http/, "ws")}/api/admin/cloudpods/${podId}/terminal`;
  const ws = new WebSocket(url, { headers: { cookie: `${SESSION_COOKIE}=${token}`, origin: httpUrl } });
  ws.binaryType = "arraybuffer";
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  return new Promise((resolve, reject) => {
    ws.addEventListener("error", () => reject(new Error("terminal websocket failed")));
    ws.addEventListener("close", (event) => reject(new Error(`terminal closed: ${event.code} ${event.reason}`)));
    ws.addEventListener("open", () => resolve({
      write: (text) => ws.send(encoder.encode(text)),
      onData: (listener) => ws.addEventListener("message", (event) => {
        if (event.data instanceof ArrayBuffer) listener(decoder.decode(event.data, { stream: true }));
      }),
      close: () => new Promise((done) => {
        if (ws.readyState === WebSocket.CLOSED) return done();
        ws.addEventListener("close", () => done());
        ws.close(1000);
      }),
    }));
  });
}

/** `ssh -tt` to the private sshd: its stdin/stdout are the keystroke and output pipes. */
function openSsh(options: string[], port: number, target: string): Pty {
  const proc = spawn("ssh", [...options, "-p", String(port), "-tt", target], { stdio: ["pipe", "pipe", "inherit"] });
  proc.stdout.setEncoding("utf8");
  return {
    write: (text) => proc.stdin.write(text),
    onData: (listener) => proc.stdout.on("data", listener),
    close: () => new Promise((done) => {
      if (proc.exitCode !== null) return done();
      const timer = setTimeout(() => proc.kill("SIGTERM"), 2000);
      proc.once("exit", () => {
        clearTimeout(timer);
        done();
      });
      proc.stdin.write("\r\x04");
      proc.stdin.end();
    }),
  };
}

const row = (name: string, s: LatencySummary): string =>
  `${name.padEnd(28)} ${[s.p50, s.p90, s.p99, s.max, s.mean].map((v) => v.toFixed(3).padStart(8)).join(" ")} ${String(s.count).padStart(6)}`;

const sshd = await startPrivateSshd();
const pod = await startBenchPod("terminal", { agentProcess: AGENT_PROCESS }).catch(async (error: unknown) => {
  await sshd.stop();
  throw error;
});
try {
  progress(`mPanel web terminal: ${KEYSTROKES} keystrokes`);
  const web = await openWebTerminal(pod.t.coordinator.httpUrl, pod.podId, pod.t.adminToken);
  const mpanel = summarize(await echoRoundTrips(web, KEYSTROKES));
  await web.close();
  progress(`ssh -tt to sshd on loopback: ${KEYSTROKES} keystrokes`);
  const ssh = openSsh(sshd.options, sshd.port, sshd.target);
  const peer = summarize(await echoRoundTrips(ssh, KEYSTROKES));
  await ssh.close();

  printReport([
    `keystroke echo round trip, one at a time (ms; ${KEYSTROKES} keystrokes after ${WARMUP} warm-up; agent ${AGENT_PROCESS ? "in its own process" : "in the bench's process"})`,
    `${"".padEnd(28)} ${["p50", "p90", "p99", "max", "mean"].map((h) => h.padStart(8)).join(" ")} ${"n".padStart(6)}`,
    row("mPanel (WebSocket->agent)", mpanel),
    row("ssh -tt (OpenSSH, loopback)", peer),
    `p99 mPanel/ssh: ${(mpanel.p99 / peer.p99).toFixed(2)} (target: <= 1)`,
  ], loadAtStart, { bench: "terminal", keystrokes: KEYSTROKES, agentProcess: AGENT_PROCESS, mpanel, ssh: peer });
} finally {
  await sshd.stop();
  await pod.stop();
}
