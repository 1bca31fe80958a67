import { spawn, type IPty } from "node-pty";
import { SystemUser, type TerminalOpen } from "@mpanel/proto";
import type { Logger } from "pino";
import type { AgentConfig } from "../config";
import { lookupSystemUser } from "../drivers/system-users";
import { podRoot } from "../jobs/web/paths";
import type { AgentSession } from "../session";

/** The shell: CloudPod users get a nologin login shell, so bash is started explicitly. */
const SHELL = "/bin/bash";
/** The PATH of a terminal session (no agent or coordinator directories). */
const PATH = "/usr/local/bin:/usr/bin:/bin";
/** Output the coordinator has not acknowledged beyond this (bytes) pauses the shell until a TerminalAck. */
const WINDOW_BYTES = 256 * 1024;
/** Idle timeout used when TerminalOpen carries none (ms). */
const DEFAULT_IDLE_MS = 15 * 60_000;
/** Terminal sizes accepted (columns and rows), as xterm.js allows. */
const MAX_CELLS = 1000;
/** Input that arrives while the shell is being started (bytes) is kept for it; more is dropped. */
const EARLY_INPUT_BYTES = 64 * 1024;

/** One running shell and its flow-control counters (bytes sent / acknowledged). */
interface Shell {
  pty: IPty;
  sent: number;
  acked: number;
  paused: boolean;
  idle: NodeJS.Timeout;
  idleMs: number;
  ended: boolean;
}

const clampSize = (n: number, fallback: number): number => (n >= 1 && n <= MAX_CELLS ? n : fallback);

/**
 * The agent's web terminals (DESIGN section 7): on `TerminalOpen` it starts `/bin/bash -l` in a
 * pseudo-terminal (node-pty) as the CloudPod's system user (uid/gid of the account, which must
 * exist and not be root), in the CloudPod's root, with a minimal environment (HOME, USER,
 * LOGNAME, SHELL, TERM=xterm-256color, PATH, LANG). Output goes out as `TerminalOutput`; when
 * more than 256 KiB are unacknowledged (`TerminalAck` carries the cumulative bytes delivered)
 * the pty is paused, so a flood (`yes`) is held back by the browser's pace. Input and resize
 * restart the idle timer; after `idle_timeout_ms` without input the shell is killed. Every end
 * sends one `TerminalExit` with reason "exited", "idle", "closed" or "failed: <message>".
 * Input that arrives while the shell starts (up to 64 KiB) is written to it once it runs, and a
 * close that arrives then ends it as soon as it exists.
 */
export function startTerminals(deps: { config: AgentConfig; session: AgentSession; log: Logger }): { stop(): void } {
  const shells = new Map<string, Shell>();
  /** Sessions whose shell is starting: the input that came meanwhile, and whether they were closed. */
  const starting = new Map<string, { input: Buffer[]; bytes: number; closed: boolean }>();

  const exit = (sessionId: string, exitCode: number, reason: string): void => {
    deps.session.sendLive({ case: "terminalExit", value: { sessionId, exitCode, reason } });
  };

  /** Ends a shell for `reason` (the pty's own exit then reports nothing more). */
  const end = (sessionId: string, reason: string): void => {
    const shell = shells.get(sessionId);
    if (!shell) return;
    shells.delete(sessionId);
    shell.ended = true;
    clearTimeout(shell.idle);
    shell.pty.kill("SIGHUP");
    exit(sessionId, -1, reason);
  };

  const touch = (sessionId: string, shell: Shell): void => {
    clearTimeout(shell.idle);
    shell.idle = setTimeout(() => end(sessionId, "idle"), shell.idleMs);
  };

  async function open(msg: TerminalOpen): Promise<void> {
    if (shells.has(msg.sessionId) || starting.has(msg.sessionId)) return;
    const early = { input: [] as Buffer[], bytes: 0, closed: false };
    starting.set(msg.sessionId, early);
    try {
      await start(msg, early);
    } finally {
      starting.delete(msg.sessionId);
    }
  }

  async function start(msg: TerminalOpen, early: { input: Buffer[]; closed: boolean }): Promise<void> {
    const user = SystemUser.safeParse(msg.systemUser);
    const account = user.success ? await lookupSystemUser(user.data) : null;
    if (!account || account.uid === 0 || account.gid === 0) return exit(msg.sessionId, -1, `failed: no CloudPod user ${msg.systemUser} on this node`);
    if (early.closed) return exit(msg.sessionId, -1, "closed");
    const home = podRoot(deps.config, account.name);
    const pty = spawn(SHELL, ["-l"], {
      name: "xterm-256color", cols: clampSize(msg.cols, 80), rows: clampSize(msg.rows, 24), cwd: home, uid: account.uid, gid: account.gid,
      env: { HOME: home, USER: account.name, LOGNAME: account.name, SHELL: SHELL, TERM: "xterm-256color", PATH, LANG: "C.UTF-8" },
    });
    const idleMs = msg.idleTimeoutMs > 0 ? msg.idleTimeoutMs : DEFAULT_IDLE_MS;
    const shell: Shell = { pty, sent: 0, acked: 0, paused: false, idle: setTimeout(() => undefined, 0), idleMs, ended: false };
    shells.set(msg.sessionId, shell);
    touch(msg.sessionId, shell);
    pty.onData((text) => {
      const data = Buffer.from(text, "utf8");
      shell.sent += data.length;
      deps.session.sendLive({ case: "terminalOutput", value: { sessionId: msg.sessionId, data } });
      if (!shell.paused && shell.sent - shell.acked > WINDOW_BYTES) {
        shell.paused = true;
        pty.pause();
      }
    });
    pty.onExit(({ exitCode }) => {
      if (shell.ended) return;
      shell.ended = true;
      clearTimeout(shell.idle);
      shells.delete(msg.sessionId);
      exit(msg.sessionId, exitCode, "exited");
    });
    for (const data of early.input) pty.write(data.toString("utf8"));
    deps.log.info({ sessionId: msg.sessionId, systemUser: account.name }, "terminal opened");
  }

  deps.session.listen({
    message(msg) {
      switch (msg.case) {
        case "terminalOpen":
          open(msg.value).catch((error: unknown) => {
            deps.log.warn({ err: error, sessionId: msg.value.sessionId }, "terminal failed to start");
            shells.delete(msg.value.sessionId);
            exit(msg.value.sessionId, -1, `failed: ${error instanceof Error ? error.message : "the shell did not start"}`);
          });
          return;
        case "terminalInput": {
          const shell = shells.get(msg.value.sessionId);
          const early = starting.get(msg.value.sessionId);
          if (!shell && early && early.bytes + msg.value.data.length <= EARLY_INPUT_BYTES) {
            early.input.push(Buffer.from(msg.value.data));
            early.bytes += msg.value.data.length;
          }
          if (!shell) return;
          touch(msg.value.sessionId, shell);
          shell.pty.write(Buffer.from(msg.value.data).toString("utf8"));
          return;
        }
        case "terminalResize": {
          const shell = shells.get(msg.value.sessionId);
          if (!shell) return;
          shell.pty.resize(clampSize(msg.value.cols, shell.pty.cols), clampSize(msg.value.rows, shell.pty.rows));
          return;
        }
        case "terminalAck": {
          const shell = shells.get(msg.value.sessionId);
          if (!shell) return;
          shell.acked = Math.max(shell.acked, Number(msg.value.bytes));
          if (shell.paused && shell.sent - shell.acked <= WINDOW_BYTES) {
            shell.paused = false;
            shell.pty.resume();
          }
          return;
        }
        case "terminalClose": {
          const early = starting.get(msg.value.sessionId);
          if (early) early.closed = true;
          end(msg.value.sessionId, "closed");
          return;
        }
        default:
      }
    },
  });
  return {
    /** Kills every shell (agent shutdown). */
    stop(): void {
      for (const id of [...shells.keys()]) end(id, "closed");
    },
  };
}
