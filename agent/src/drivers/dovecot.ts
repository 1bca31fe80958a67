import { execa } from "execa";

/** One mailbox as the passwd-file holds it. */
export interface MailboxEntry {
  /** `{ARGON2ID}$argon2id$...` or `{SHA512-CRYPT}$6$...`, verified by Dovecot; never plain text. */
  passwordHash: string;
  /** Storage limit in bytes; 0 = unlimited (no quota rule). */
  quotaBytes: number;
  /** Login refused (passdb `nologin`); mail is still delivered (the userdb entry stays). */
  suspended: boolean;
}

const HEADER = "# managed by mPanel: user:password:uid:gid:gecos:home:shell:extra fields (uid, gid and home come from the userdb default_fields)";
const SUSPENDED = "nologin=y reason=mailbox_suspended";
const QUOTA = /^userdb_quota_rule=\*:bytes=(\d+)$/;
/** What may appear in one passwd-file field: no `:`, whitespace or control characters. */
const FIELD = /^[^\s:\p{Cc}]+$/u;

/**
 * Renders Dovecot's passwd-file (doc.dovecot.org, "Passwd-file"), one line per mailbox sorted
 * by address: `local@domain:<hash>::::::[userdb_quota_rule=*:bytes=N] [nologin=y reason=...]`.
 * The same file serves passdb (password, `nologin` refuses the login) and userdb (home from
 * default_fields, `userdb_quota_rule` read by the quota plugin, so LMTP enforces it).
 * Throws an Error when an address or hash holds `:`, whitespace or a control character.
 */
export function renderPasswdFile(mailboxes: ReadonlyMap<string, MailboxEntry>): string {
  const lines = [...mailboxes.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([address, entry]) => {
      if (!FIELD.test(address) || !FIELD.test(entry.passwordHash)) throw new Error(`unsafe passwd-file field for ${JSON.stringify(address)}`);
      const extra = [...(entry.quotaBytes > 0 ? [`userdb_quota_rule=*:bytes=${entry.quotaBytes}`] : []), ...(entry.suspended ? [SUSPENDED] : [])];
      return `${address}:${entry.passwordHash}::::::${extra.join(" ")}`;
    });
  return [HEADER, ...lines, ""].join("\n");
}

/** Parses a passwd-file written by renderPasswdFile (comments and blank lines skipped) into address → entry. */
export function parsePasswdFile(text: string): Map<string, MailboxEntry> {
  const mailboxes = new Map<string, MailboxEntry>();
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const fields = line.split(":");
    const [address = "", passwordHash = ""] = fields;
    const extra = fields.slice(7).join(":").split(" ");
    const quota = extra.map((f) => QUOTA.exec(f)?.[1]).find((v) => v !== undefined);
    mailboxes.set(address, { passwordHash, quotaBytes: quota ? Number(quota) : 0, suspended: extra.includes("nologin=y") });
  }
  return mailboxes;
}

/** How the driver reaches Dovecot: `doveadm -c <confFile>`. */
export interface DoveadmTarget {
  doveadmBinary: string;
  dovecotConfFile: string;
}

/** What Dovecot's passdb says about a user: unknown, may log in, or refused (`nologin`). */
export type PassdbState = "absent" | "active" | "suspended";

/**
 * Asks Dovecot's passdb about `user` (`doveadm auth lookup`, doveadm-auth(1)): "absent" when
 * Dovecot says it does not exist (exit 67), "suspended" when the entry carries `nologin`, else
 * "active". Throws an Error with doveadm's stderr for any other failure (e.g. Dovecot not
 * running, unreadable passwd-file).
 */
export async function passdbState(target: DoveadmTarget, user: string): Promise<PassdbState> {
  const r = await execa(target.doveadmBinary, ["-c", target.dovecotConfFile, "auth", "lookup", user], { reject: false, stdin: "ignore", timeout: 30_000 });
  if (r.exitCode === 67) return "absent";
  if (r.exitCode !== 0) throw new Error(`doveadm auth lookup failed: ${r.stderr.trim() || r.shortMessage}`);
  return /^\s*nologin\s*:/m.test(r.stdout) ? "suspended" : "active";
}

/** Disconnects every IMAP session of `user` (`doveadm kick`, doveadm-kick(1)); best effort, never throws. */
export async function kickUser(target: DoveadmTarget, user: string): Promise<void> {
  await execa(target.doveadmBinary, ["-c", target.dovecotConfFile, "kick", user], { reject: false, stdin: "ignore", timeout: 30_000 });
}
