import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../../agent/src/drivers/free-port";

/** A private Prometheus server (Debian's `prometheus`) scraping one target every second. */
export interface PrivatePrometheus {
  /** Base URL of its HTTP API, e.g. http://127.0.0.1:41234. */
  url: string;
  /** Runs an instant PromQL query (`/api/v1/query`) and returns its vector: labels and value. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus on a free loopback port with its TSDB in a temporary directory, scraping
 * `target` (host:port) at `metricsPath` every second with `bearerToken` (the documented
 * `authorization` block of a scrape config). Resolves once its API answers `/-/ready`.
 */
export async function startPrivatePrometheus(opts: { target: string; metricsPath: string; bearerToken: string; binary?: string }): Promise<PrivatePrometheus> {
  const dir = await mkdtemp(join(tmpdir(), "mpanel-prometheus-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
    scrape_configs: [{
      job_name: "mpanel",
      metrics_path: opts.metricsPath,
      authorization: { type: "Bearer", credentials: opts.bearerToken },
      static_configs: [{ targets: [opts.target] }],
    }],
  };
  // YAML is a superset of JSON: the config file is written as JSON.
  await writeFile(join(dir, "prometheus.yml"), JSON.stringify(config));
  const child: ChildProcess = spawn(opts.binary ?? "/usr/bin/prometheus", [
    `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`, "--log.level=error",
  ], { stdio: ["ignore", "ignore", "inherit"] });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i += 1) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (i >= 200) {
      await stop();
      throw new Error("prometheus did not become ready within 20 s");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
      const body = (await res.json()) as { status: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }; error?: string };
      if (body.status !== "success") throw new Error(`prometheus query ${promql}: ${body.error ?? res.status}`);
      return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    stop,
  };
}
