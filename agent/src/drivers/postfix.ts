import { copyFile, mkdir, readFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { execa } from "execa";

/** The three lookup tables the mail driver owns, each a `texthash:` file (postconf(5), "texthash"). */
export const MAP_NAMES = ["virtual_mailbox_domains", "virtual_mailbox_maps", "virtual_alias_maps"] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** What Postfix needs to know: accepted domains, mailbox addresses, alias address → destinations. */
export interface PostfixTables {
  domains: ReadonlySet<string>;
  mailboxes: Iterable<string>;
  aliases: ReadonlyMap<string, readonly string[]>;
}

/** Keys and values may not hold whitespace, `,` (alias lists), `#` or control characters. */
const TOKEN = /^[^\s,#\p{Cc}]+$/u;
const HEADER = "# managed by mPanel; changes take effect on postfix reload";

function sorted(keys: Iterable<string>): string[] {
  return [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function table(rows: [string, string][]): string {
  for (const [key, value] of rows) if (!TOKEN.test(key) || !value.split(", ").every((v) => TOKEN.test(v))) throw new Error(`unsafe map entry ${JSON.stringify(key)}`);
  return [HEADER, ...rows.map(([key, value]) => `${key} ${value}`), ""].join("\n");
}

/**
 * Renders the map files (postconf(5) virtual_mailbox_domains, virtual_mailbox_maps,
 * virtual_alias_maps; virtual(5) for the alias syntax). A mailbox's value is its maildir path
 * relative to the mail root, which the LMTP transport ignores but keeps the table readable.
 * Throws an Error when a key or destination holds whitespace, `,`, `#` or a control character.
 */
export function renderMaps(t: PostfixTables): Record<MapName, string> {
  return {
    virtual_mailbox_domains: table(sorted(t.domains).map((d) => [d, "OK"])),
    virtual_mailbox_maps: table(sorted(t.mailboxes).map((a) => [a, `${a.slice(a.lastIndexOf("@") + 1)}/${a.slice(0, a.lastIndexOf("@"))}/`])),
    virtual_alias_maps: table(sorted(t.aliases.keys()).map((a) => [a, (t.aliases.get(a) ?? []).join(", ")])),
  };
}

/** Parses a map written by renderMaps into key → value (comments and blank lines skipped). */
export function parseMap(text: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const space = line.indexOf(" ");
    rows.set(line.slice(0, space), line.slice(space + 1));
  }
  return rows;
}

/** How the driver reaches Postfix: `postfix -c <configDir>`, and its log when it has one. */
export interface PostfixTarget {
  postfixBinary: string;
  postfixConfigDir: string;
  maillogFile?: string | undefined;
}

/**
 * Copies main.cf and master.cf into `stagingDir`, sets `parameters` there with
 * `postconf -c <stagingDir> -e` (postconf(1)) and returns the resulting main.cf text.
 * Throws an Error with postconf's stderr when it refuses.
 */
export async function stageMainCf(target: PostfixTarget, stagingDir: string, parameters: Readonly<Record<string, string>>): Promise<string> {
  await mkdir(stagingDir, { recursive: true, mode: 0o755 });
  for (const file of ["main.cf", "master.cf"]) await copyFile(join(target.postfixConfigDir, file), join(stagingDir, file));
  const postconf = join(target.postfixBinary, "..", "postconf");
  const settings = Object.entries(parameters).map(([name, value]) => `${name}=${value}`);
  const r = await execa(postconf, ["-c", stagingDir, "-e", ...settings], { reject: false, stdin: "ignore", timeout: 30_000 });
  if (r.exitCode !== 0 || r.stderr.trim() !== "") throw new Error(r.stderr.trim() || r.shortMessage);
  return readFile(join(stagingDir, "main.cf"), "utf8");
}

/**
 * Runs `postfix -c <dir> <command>` (postfix(1)). Postfix reports only through its log (never
 * stderr without a terminal), and a started master keeps inherited descriptors, so nothing is
 * piped: `output` is what Postfix appended to maillogFile meanwhile (or execa's error when
 * postfix could not be run). Never throws for a failing command.
 */
export async function runPostfix(target: PostfixTarget, dir: string, command: "check" | "reload" | "stop" | "start"): Promise<{ ok: boolean; output: string }> {
  const start = target.maillogFile ? await logSize(target.maillogFile) : 0;
  const r = await execa(target.postfixBinary, ["-c", dir, command], { reject: false, stdio: "ignore", timeout: 60_000 });
  const logged = target.maillogFile ? await logSince(target.maillogFile, start) : "";
  return { ok: r.exitCode === 0, output: logged || (r.exitCode === 0 ? "" : (r.shortMessage ?? `postfix ${command} failed`)) };
}

/** `postfix stop` then `postfix start`: unlike a reload, this also ends the 60 s throttle of a daemon that died on a bad config. */
export async function restartPostfix(target: PostfixTarget): Promise<{ ok: boolean; output: string }> {
  await runPostfix(target, target.postfixConfigDir, "stop");
  return runPostfix(target, target.postfixConfigDir, "start");
}

/** Size of the log in bytes (0 when missing). */
export async function logSize(file: string): Promise<number> {
  return (await readFile(file).catch(() => Buffer.alloc(0))).length;
}

/** The log's lines after byte `from` that report trouble (fatal, panic, error, warning), at most 20. */
export async function logSince(file: string, from: number): Promise<string> {
  const text = (await readFile(file).catch(() => Buffer.alloc(0))).subarray(from).toString("utf8");
  return text.split("\n").filter((l) => /\b(fatal|panic|error|warning):/.test(l)).slice(-20).join("\n");
}

/** What Postfix's smtpd answers to `RCPT TO`: accepted (2xx), unknown user (5.1.1), relay denied (5.7.1 / 4.7.1), or anything else. */
export type RcptAnswer = "accepted" | "unknown_user" | "relay_denied" | "other";

/**
 * One SMTP dialogue (RFC 5321): EHLO, `MAIL FROM:<>`, `RCPT TO:<address>`, QUIT, with no
 * message sent. Classifies the RCPT reply; null when smtpd did not answer properly within
 * `timeoutMs` (e.g. it dies on a config it cannot load).
 */
export function probeRcpt(host: string, port: number, address: string, timeoutMs = 3_000): Promise<RcptAnswer | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const steps = ["EHLO mpanel-probe", "MAIL FROM:<>", `RCPT TO:<${address}>`];
    let buffer = "";
    const finish = (answer: RcptAnswer | null) => {
      socket.end("QUIT\r\n");
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => finish(null));
    socket.on("error", () => finish(null));
    socket.on("close", () => resolve(null));
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      for (let end = buffer.indexOf("\r\n"); end >= 0; end = buffer.indexOf("\r\n")) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (line[3] === "-") continue; // continuation of a multi-line reply
        const code = line.slice(0, 3);
        const step = steps.shift();
        if (step === undefined) return finish(code.startsWith("2") ? "accepted" : /\b5\.1\.1\b/.test(line) ? "unknown_user" : /\b[45]\.7\.1\b/.test(line) ? "relay_denied" : "other");
        if (!code.startsWith("2")) return finish(null);
        socket.write(`${step}\r\n`);
      }
    });
  });
}
