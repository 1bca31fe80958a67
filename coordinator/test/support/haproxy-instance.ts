import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One TCP frontend of the private haproxy: where it listens and the backends it forwards to. */
export interface ProxyFrontend {
  name: string;
  port: number;
  /** Backends in order; with `failover`, the first takes all traffic and the rest are `backup` servers. */
  servers: number[];
  /** `failover`: first server, others as backups; `roundrobin`: spread over all. */
  balance: "failover" | "roundrobin";
}

/** A private haproxy on loopback (Debian's `/usr/sbin/haproxy`, foreground, its config in a temp dir). */
export interface PrivateHaproxy {
  stop(): Promise<void>;
}

/**
 * Starts haproxy in TCP mode (TLS passes through to the coordinators, so mTLS stays end to end)
 * with the given frontends. Servers are health-checked every 200 ms; a connection that fails
 * is redispatched to another server, so clients of a dead replica reconnect to a live one.
 * Resolves once every frontend accepts connections.
 */
export async function startPrivateHaproxy(frontends: ProxyFrontend[], binary = "/usr/sbin/haproxy"): Promise<PrivateHaproxy> {
  const dir = await mkdtemp(join(tmpdir(), "mpanel-haproxy-"));
  const lines = [
    "global", "  maxconn 4096",
    "defaults", "  mode tcp", "  timeout connect 1s", "  timeout client 1h", "  timeout server 1h", "  retries 3", "  option redispatch",
  ];
  for (const f of frontends) {
    lines.push(`frontend ${f.name}`, `  bind 127.0.0.1:${f.port}`, `  default_backend ${f.name}_servers`);
    lines.push(`backend ${f.name}_servers`, `  balance ${f.balance === "roundrobin" ? "roundrobin" : "first"}`);
    f.servers.forEach((port, i) => {
      const backup = f.balance === "failover" && i > 0 ? " backup" : "";
      lines.push(`  server s${i} 127.0.0.1:${port} check inter 200ms fall 1 rise 1${backup}`);
    });
  }
  const config = join(dir, "haproxy.cfg");
  await writeFile(config, `${lines.join("\n")}\n`);
  const proc = spawn(binary, ["-db", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const accepts = (port: number) => new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1", () => { socket.destroy(); resolve(true); });
    socket.on("error", () => resolve(false));
  });
  for (let i = 0; ; i += 1) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited with ${proc.exitCode}: ${stderr}`);
    if ((await Promise.all(frontends.map((f) => accepts(f.port)))).every(Boolean)) break;
    if (i >= 100) throw new Error(`haproxy did not listen: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async stop() {
      if (proc.exitCode === null) {
        const exited = once(proc, "exit");
        proc.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
