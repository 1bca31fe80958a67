import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { Redis } from "ioredis";
import { freePort } from "../../../agent/src/drivers/free-port";

/** A private Redis server on a loopback port (DAEMONS.md): no persistence, a child of the test process. */
export interface PrivateRedis {
  url: string;
  port: number;
  /** Kills the server (SIGKILL when `abrupt`, else SIGTERM) and waits for it to exit. */
  stop(abrupt?: boolean): Promise<void>;
  /** Starts it again on the same port (after `stop`). */
  restart(): Promise<void>;
}

/** Starts Debian's `redis-server` on 127.0.0.1 and a free port; resolves once it answers PING. */
export async function startPrivateRedis(binary = "/usr/bin/redis-server"): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;

  async function start(): Promise<void> {
    const proc = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"], { stdio: "ignore" });
    child = proc;
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => undefined);
    try {
      for (let i = 0; ; i += 1) {
        if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
        try {
          await probe.connect();
          await probe.ping();
          return;
        } catch (error) {
          if (i >= 100) throw error;
          probe.disconnect();
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      probe.disconnect();
    }
  }

  await start();
  return {
    url, port,
    async stop(abrupt = false) {
      const proc = child;
      child = null;
      if (!proc || proc.exitCode !== null) return;
      const exited = once(proc, "exit");
      proc.kill(abrupt ? "SIGKILL" : "SIGTERM");
      await exited;
    },
    restart: start,
  };
}
