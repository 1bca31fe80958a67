import { chown, mkdir, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Domain, DkimSelector, MailAddress, MailLocalPart, MailPasswordHash } from "@mpanel/proto";
import type { Logger } from "pino";
import { z } from "zod";
import { kickUser, parsePasswdFile, passdbState, renderPasswdFile, type MailboxEntry, type PassdbState } from "./dovecot";
import { createSerializer, readOptional, removeOptional } from "./files";
import { ensureDkimKey, removeDkimKeys } from "./mail-dkim";
import { logSince, logSize, MAP_NAMES, parseMap, probeRcpt, renderMaps, restartPostfix, runPostfix, stageMainCf, type MapName, type RcptAnswer } from "./postfix";

const AbsolutePath = z.string().regex(/^\/[A-Za-z0-9._/-]*$/, "must be an absolute path of A-Z a-z 0-9 . _ / -");

/**
 * The agent's `mail` config section: where the Postfix and Dovecot this driver feeds live.
 * The driver owns the three maps in `postfixMapsDir`, the passwd-file, the maildirs under
 * `mailRoot` and the DKIM keys; main.cf and dovecot.conf are written once by the installer
 * (or startPrivateMail) and the driver only keeps the map parameters (plus `postfixParameters`) set.
 */
export const MailConfig = z.strictObject({
  /** postfix(1), run as `postfix -c <postfixConfigDir> check|reload`. */
  postfixBinary: AbsolutePath.default("/usr/sbin/postfix"),
  /** Directory of main.cf and master.cf. */
  postfixConfigDir: AbsolutePath.default("/etc/postfix"),
  /** Directory of virtual_mailbox_domains, virtual_mailbox_maps and virtual_alias_maps (texthash: maps). */
  postfixMapsDir: AbsolutePath.default("/etc/postfix/mpanel"),
  /** Postfix's maillog_file; what Postfix logs during a failed check or reload is quoted from it. */
  maillogFile: AbsolutePath.optional(),
  /** Postfix's smtpd, host:port: after a reload the driver asks it (RCPT TO, no message) whether the change is live. */
  smtpProbe: z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, "must be host:port").default("127.0.0.1:25"),
  /** How long a reloaded Postfix may take to answer the probe as expected (ms). */
  reloadTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** Extra main.cf parameters the driver keeps set (e.g. message_size_limit), name → value. */
  postfixParameters: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "must be a main.cf parameter name"), z.string().max(1024).regex(/^[^\n\r]*$/, "must be one line")).default({}),
  /** doveadm(1), run as `doveadm -c <dovecotConfFile> ...`. */
  doveadmBinary: AbsolutePath.default("/usr/bin/doveadm"),
  dovecotConfFile: AbsolutePath.default("/etc/dovecot/dovecot.conf"),
  /** Dovecot passwd-file serving as both passdb and userdb (users are `local@domain`). */
  passwdFile: AbsolutePath.default("/etc/dovecot/mpanel-users"),
  /** Maildirs live in `<mailRoot>/<domain>/<local>/Maildir` (Dovecot's userdb home is `<mailRoot>/%d/%n`). */
  mailRoot: AbsolutePath.default("/var/mail/mpanel"),
  /** Owner of every maildir (Dovecot's mail_uid/mail_gid; never 0). */
  vmailUid: z.number().int().min(1).max(2 ** 31 - 1),
  vmailGid: z.number().int().min(1).max(2 ** 31 - 1),
  /** DKIM private keys, `<dkimDir>/<domain>/<selector>.pem` (mode 0600, directories 0700). */
  dkimDir: AbsolutePath.default("/etc/mpanel/dkim"),
});
export type MailConfig = z.infer<typeof MailConfig>;


/** Why a mail operation failed; callers branch on this, never on the message. */
export type MailErrorCode =
  | "invalid_argument" // a name, hash or quota the schemas refuse
  | "domain_not_found" // a mailbox or alias for a domain not provisioned (yet)
  | "address_taken" // a mailbox where an alias is, or the reverse
  | "config_rejected" // postconf or `postfix check` refused the staged main.cf; nothing was changed
  | "not_live" // reloaded, but Postfix or Dovecot did not answer as the change requires; the previous files are back
  | "command_failed"; // postfix or doveadm could not be run (e.g. not running)

/** The one error type of the mail driver. `output` is the daemon's own text (stderr or log lines), or "". */
export class MailError extends Error {
  override readonly name = "MailError";
  constructor(readonly code: MailErrorCode, message: string, readonly output = "", options?: ErrorOptions) {
    super(message, options);
  }
}

/** A mailbox's desired state (the CREATE_MAILBOX / UPDATE_MAILBOX payload without its id). */
export interface MailboxSpec extends MailboxEntry {
  domain: string;
  localPart: string;
}

/**
 * Converges one Postfix + Dovecot on the desired domains, mailboxes and aliases. Every
 * operation is an idempotent ensure, runs after the previous one finished (in-process mutex),
 * validates its arguments with the proto schemas (MailError "invalid_argument"), and applies
 * through `commit`: render the maps, the passwd-file and main.cf (map parameters +
 * postfixParameters), `postfix check` a staged main.cf when it changes, swap every changed file
 * atomically, `postfix reload`, then wait until smtpd's RCPT answer and Dovecot's userdb show
 * the change; on any failure every file is restored (and Postfix reloaded again).
 */
export interface MailServer {
  /**
   * Accepts mail for `domain` and ensures its DKIM key (see ensureDkimKey). Returns the selector
   * and the public key (base64 SPKI DER); the same key on every re-run.
   */
  ensureDomain(domain: string, dkimSelector: string): Promise<{ dkimSelector: string; dkimPublicKey: string; outcome: "changed" | "unchanged" }>;
  /** Stops accepting `domain` and deletes its mailboxes (with their mail), aliases and DKIM keys. */
  removeDomain(domain: string): Promise<"removed" | "absent">;
  /** Ensures the mailbox's hash, quota and suspension; kicks its IMAP sessions when suspended or the password changed. */
  ensureMailbox(spec: MailboxSpec): Promise<"changed" | "unchanged">;
  /** Deletes the mailbox and its maildir; kicks its IMAP sessions. */
  removeMailbox(domain: string, localPart: string): Promise<"removed" | "absent">;
  /** Ensures `localPart@domain` forwards to exactly `destinations` (1-50 addresses). */
  ensureAlias(domain: string, localPart: string, destinations: readonly string[]): Promise<"changed" | "unchanged">;
  removeAlias(domain: string, localPart: string): Promise<"removed" | "absent">;
}

interface MailState {
  domains: Set<string>;
  mailboxes: Map<string, MailboxEntry>;
  aliases: Map<string, string[]>;
}

/** A change must show as: smtpd's answer to RCPT TO:<address>, and/or Dovecot's passdb state of `user`. */
type Expectation = { address: string; answer: RcptAnswer } | { user: string; passdb: PassdbState };

/** Local part of the address that probes a domain: a trailing `-` is valid SMTP but never a mailbox (MailLocalPart forbids it). */
const PROBE_LOCAL_PART = "mpanel-probe-";

function valid<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new MailError("invalid_argument", `${field}: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  return parsed.data;
}

/**
 * Puts `content` at `path` atomically (via `<path>.mpanel-new`, keeping the old file's mode and
 * owner), or deletes it when null. The new file's mtime is a whole second later than the old
 * one's: Dovecot re-reads a passwd-file only when its mtime (in seconds) or size changed.
 */
async function place(path: string, content: string | null): Promise<void> {
  if (content === null) return removeOptional(path);
  const old = await stat(path).catch(() => null);
  const temp = `${path}.mpanel-new`;
  await writeFile(temp, content, { mode: old ? old.mode & 0o777 : 0o644 });
  if (old) {
    await chown(temp, old.uid, old.gid);
    const seconds = Math.max(Math.floor(Date.now() / 1000), Math.floor(old.mtimeMs / 1000) + 1);
    await utimes(temp, seconds, seconds);
  }
  await rename(temp, path);
}

/** Builds the driver. Throws a ZodError for a bad config. `log` gets a child logger (component "mail"); hashes are never logged. */
export function createMailServer(input: MailConfig, parentLog: Logger): MailServer {
  const cfg = MailConfig.parse(input);
  const log = parentLog.child({ component: "mail" });
  const mapPath = (name: MapName) => join(cfg.postfixMapsDir, name);
  const mainCf = join(cfg.postfixConfigDir, "main.cf");
  const stagingDir = join(cfg.postfixMapsDir, ".staging");
  const [probeHost = "127.0.0.1", probePort = "25"] = cfg.smtpProbe.split(/:(?=\d+$)/);
  const parameters = { ...Object.fromEntries(MAP_NAMES.map((name) => [name, `texthash:${mapPath(name)}`])), ...cfg.postfixParameters };

  const serialize = createSerializer();

  const readState = async (): Promise<MailState> => {
    const aliases = parseMap((await readOptional(mapPath("virtual_alias_maps"))) ?? "");
    return {
      domains: new Set(parseMap((await readOptional(mapPath("virtual_mailbox_domains"))) ?? "").keys()),
      mailboxes: parsePasswdFile((await readOptional(cfg.passwdFile)) ?? ""),
      aliases: new Map([...aliases].map(([address, value]) => [address, value.split(", ")])),
    };
  };

  /** Whether every expectation holds now. */
  const holds = async (expectations: Expectation[]): Promise<boolean> => {
    for (const e of expectations) {
      if ("address" in e ? (await probeRcpt(probeHost, Number(probePort), e.address)) !== e.answer : (await passdbState(cfg, e.user)) !== e.passdb) return false;
    }
    return true;
  };

  /** Renders `next`, and when anything differs from disk: checks, swaps, reloads, verifies, or restores (see MailServer). */
  const commit = async (next: MailState, expectations: Expectation[]): Promise<"changed" | "unchanged"> => {
    const maps = renderMaps({ domains: next.domains, mailboxes: next.mailboxes.keys(), aliases: next.aliases });
    let stagedMain: string;
    try {
      stagedMain = await stageMainCf(cfg, stagingDir, parameters);
    } catch (error) {
      throw new MailError("config_rejected", "postconf refused the main.cf parameters", (error as Error).message, { cause: error });
    }
    const desired: [string, string][] = [...MAP_NAMES.map((name): [string, string] => [mapPath(name), maps[name]]), [mainCf, stagedMain], [cfg.passwdFile, renderPasswdFile(next.mailboxes)]];
    const changes: { path: string; content: string; previous: string | null }[] = [];
    for (const [path, content] of desired) {
      const previous = await readOptional(path);
      if (previous !== content) changes.push({ path, content, previous });
    }
    if (changes.length === 0) return "unchanged";
    if (changes.some((c) => c.path === mainCf)) {
      const checked = await runPostfix(cfg, stagingDir, "check");
      if (!checked.ok) throw new MailError("config_rejected", "postfix check refused the new main.cf", checked.output);
    }
    const postfixChanged = changes.some((c) => c.path !== cfg.passwdFile);
    for (const c of changes) await place(c.path, c.content);
    let failure: MailError | undefined;
    if (postfixChanged) {
      const reloaded = await runPostfix(cfg, cfg.postfixConfigDir, "reload");
      if (!reloaded.ok) failure = new MailError("command_failed", "postfix reload failed", reloaded.output);
    }
    if (!failure && changes.some((c) => c.path === cfg.passwdFile)) {
      // Dovecot checks the passwd-file at most once per second: from the next second on, every lookup sees this version.
      await sleep(1_000 - (Date.now() % 1_000) + 20);
    }
    if (!failure) {
      const start = cfg.maillogFile ? await logSize(cfg.maillogFile) : 0;
      const deadline = Date.now() + cfg.reloadTimeoutMs;
      let ok = await holds(expectations);
      while (!ok && Date.now() < deadline) {
        await sleep(50);
        ok = await holds(expectations);
      }
      if (!ok) failure = new MailError("not_live", `the change did not take effect within ${cfg.reloadTimeoutMs} ms`, cfg.maillogFile ? await logSince(cfg.maillogFile, start) : "");
    }
    if (!failure) return "changed";
    for (const c of changes) await place(c.path, c.previous);
    if (postfixChanged) {
      // A daemon that died on the new config stays throttled through a reload: restart when the change never went live.
      const again = failure.code === "not_live" ? await restartPostfix(cfg) : await runPostfix(cfg, cfg.postfixConfigDir, "reload");
      if (!again.ok) log.error({ output: again.output }, "postfix restart after rollback failed");
    }
    log.warn({ code: failure.code, output: failure.output }, "mail change rolled back");
    throw failure;
  };

  /** Ensures `<mailRoot>/<domain>[/<local>]` (0750, owned by the vmail user) and returns it. */
  const mailDir = async (domain: string, localPart?: string): Promise<string> => {
    const dir = localPart === undefined ? join(cfg.mailRoot, domain) : join(cfg.mailRoot, domain, localPart);
    await mkdir(dir, { recursive: true, mode: 0o750 });
    await chown(dir, cfg.vmailUid, cfg.vmailGid);
    return dir;
  };

  const needDomain = (state: MailState, domain: string) => {
    if (!state.domains.has(domain)) throw new MailError("domain_not_found", `mail domain ${domain} is not provisioned on this node`);
  };

  return {
    ensureDomain: (rawDomain, rawSelector) =>
      serialize(async () => {
        const domain = valid(Domain, rawDomain, "domain");
        const dkimSelector = valid(DkimSelector, rawSelector, "dkimSelector");
        const state = await readState();
        state.domains.add(domain);
        await mailDir(domain);
        const key = await ensureDkimKey(cfg.dkimDir, domain, dkimSelector);
        const outcome = await commit(state, [{ address: `${PROBE_LOCAL_PART}@${domain}`, answer: "unknown_user" }]);
        log.info({ domain, dkimSelector, outcome, dkimCreated: key.created }, "mail domain ensured");
        return { dkimSelector, dkimPublicKey: key.publicKey, outcome: key.created ? "changed" : outcome };
      }),

    removeDomain: (rawDomain) =>
      serialize(async () => {
        const domain = valid(Domain, rawDomain, "domain");
        const state = await readState();
        const inDomain = (address: string) => address.endsWith(`@${domain}`);
        const existed = state.domains.delete(domain);
        const users = [...state.mailboxes.keys()].filter(inDomain);
        for (const user of users) state.mailboxes.delete(user);
        for (const address of [...state.aliases.keys()].filter(inDomain)) state.aliases.delete(address);
        const outcome = await commit(state, [{ address: `${PROBE_LOCAL_PART}@${domain}`, answer: "relay_denied" }]);
        for (const user of users) await kickUser(cfg, user);
        await rm(join(cfg.mailRoot, domain), { recursive: true, force: true });
        await removeDkimKeys(cfg.dkimDir, domain);
        log.info({ domain, mailboxes: users.length }, "mail domain removed");
        return existed || outcome === "changed" ? "removed" : "absent";
      }),

    ensureMailbox: (spec) =>
      serialize(async () => {
        const domain = valid(Domain, spec.domain, "domain");
        const localPart = valid(MailLocalPart, spec.localPart, "localPart");
        const passwordHash = valid(MailPasswordHash, spec.passwordHash, "passwordHash");
        const quotaBytes = valid(z.number().int().min(0).max(2 ** 50), spec.quotaBytes, "quotaBytes");
        const address = `${localPart}@${domain}`;
        const state = await readState();
        needDomain(state, domain);
        if (state.aliases.has(address)) throw new MailError("address_taken", `${address} is an alias`);
        const before = state.mailboxes.get(address);
        state.mailboxes.set(address, { passwordHash, quotaBytes, suspended: spec.suspended });
        await mailDir(domain, localPart);
        const outcome = await commit(state, [{ address, answer: "accepted" }, { user: address, passdb: spec.suspended ? "suspended" : "active" }]);
        if (before && ((spec.suspended && !before.suspended) || before.passwordHash !== passwordHash)) await kickUser(cfg, address);
        log.info({ address, quotaBytes, suspended: spec.suspended, outcome }, "mailbox ensured");
        return outcome;
      }),

    removeMailbox: (rawDomain, rawLocalPart) =>
      serialize(async () => {
        const domain = valid(Domain, rawDomain, "domain");
        const localPart = valid(MailLocalPart, rawLocalPart, "localPart");
        const address = `${localPart}@${domain}`;
        const state = await readState();
        const existed = state.mailboxes.delete(address);
        const known = state.domains.has(domain);
        await commit(state, [{ address, answer: known ? "unknown_user" : "relay_denied" }, { user: address, passdb: "absent" }]);
        await kickUser(cfg, address);
        await rm(join(cfg.mailRoot, domain, localPart), { recursive: true, force: true });
        log.info({ address, existed }, "mailbox removed");
        return existed ? "removed" : "absent";
      }),

    ensureAlias: (rawDomain, rawLocalPart, rawDestinations) =>
      serialize(async () => {
        const domain = valid(Domain, rawDomain, "domain");
        const localPart = valid(MailLocalPart, rawLocalPart, "localPart");
        const destinations = valid(z.array(MailAddress).min(1).max(50), rawDestinations, "destinations");
        const address = `${localPart}@${domain}`;
        const state = await readState();
        needDomain(state, domain);
        if (state.mailboxes.has(address)) throw new MailError("address_taken", `${address} is a mailbox`);
        state.aliases.set(address, [...new Set(destinations)]);
        const outcome = await commit(state, [{ address, answer: "accepted" }]);
        log.info({ address, destinations: destinations.length, outcome }, "mail alias ensured");
        return outcome;
      }),

    removeAlias: (rawDomain, rawLocalPart) =>
      serialize(async () => {
        const domain = valid(Domain, rawDomain, "domain");
        const localPart = valid(MailLocalPart, rawLocalPart, "localPart");
        const address = `${localPart}@${domain}`;
        const state = await readState();
        const existed = state.aliases.delete(address);
        if (state.mailboxes.has(address)) return "absent";
        await commit(state, [{ address, answer: state.domains.has(domain) ? "unknown_user" : "relay_denied" }]);
        log.info({ address, existed }, "mail alias removed");
        return existed ? "removed" : "absent";
      }),
  };
}
