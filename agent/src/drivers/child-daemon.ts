import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ResultPromise } from "execa";

const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
const POLL_MS = 50;

/**
 * The absolute form of a private instance's `prefix`, after checking it consists of
 * [A-Za-z0-9._/-] and that `port` is an integer 1..65535. Throws Error naming `daemon` otherwise.
 */
export function checkPrefixAndPort(daemon: string, prefix: string, port: number): string {
  const absolute = resolve(prefix);
  if (!SAFE_PATH.test(absolute)) throw new Error(`unsafe ${daemon} prefix: ${JSON.stringify(absolute)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid ${daemon} port: ${port}`);
  return absolute;
}

/** A daemon running in the foreground as a child of this process (started with execa, `reject: false`). */
export interface ChildDaemon {
  /** True once the process has exited. */
  exited(): boolean;
  /**
   * Polls `ready` every 50 ms until it resolves true; throws Error(`<message>: <last 10 lines
   * of logFile>`) (killing the child with `forceSignal`) if the child exits or `timeoutMs` pass.
   */
  waitReady(ready: () => Promise<boolean>, timeoutMs: number, logFile: string): Promise<void>;
  /** Sends `stopSignal`, then `forceSignal` after `stopTimeoutMs`; resolves on exit. Safe to call twice. */
  stop(): Promise<void>;
}

/** Watches `child` (see ChildDaemon); `name` goes into error messages. */
export function superviseChild(child: ResultPromise, opts: { name: string; stopSignal: NodeJS.Signals; forceSignal: NodeJS.Signals; stopTimeoutMs: number }): ChildDaemon {
  let exited = false;
  const done = child.then(() => {
    exited = true;
  });
  let stopping: Promise<void> | undefined;
  const fail = async (message: string, logFile: string): Promise<never> => {
    if (!exited) child.kill(opts.forceSignal);
    await done;
    const tail = (await readFile(logFile, "utf8").catch(() => "")).trim().split("\n").slice(-10).join("\n");
    throw new Error(`${opts.name} ${message}: ${tail}`);
  };
  return {
    exited: () => exited,
    async waitReady(ready, timeoutMs, logFile) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exited) return fail("exited during start", logFile);
        if (await ready()) return;
        if (Date.now() > deadline) return fail("did not answer in time", logFile);
        await sleep(POLL_MS);
      }
    },
    stop: () =>
      (stopping ??= (async () => {
        if (exited) return;
        child.kill(opts.stopSignal);
        const timer = setTimeout(() => child.kill(opts.forceSignal), opts.stopTimeoutMs);
        await done;
        clearTimeout(timer);
      })()),
  };
}
