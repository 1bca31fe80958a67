import { statfs } from "node:fs/promises";
import { loadavg } from "node:os";
import { dirname } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MetricSampleSchema } from "@mpanel/proto";
import si from "systeminformation";

/** One sample as the proto carries it; a figure the host could not measure is left undefined (never 0). */
export type Sample = MessageInitShape<typeof MetricSampleSchema>;

/** A finite number, or undefined (systeminformation answers null or NaN for what it could not read). */
function measured(value: number | null | undefined): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The value of a settled promise, or undefined when it failed (one broken source must not drop the others). */
function settled<T>(result: PromiseSettledResult<T>): T | undefined {
  return result.status === "fulfilled" ? result.value : undefined;
}

/** statfs of `path`, or of its nearest existing ancestor (the pods root may not exist yet). */
async function statfsNearest(path: string): Promise<{ used: number; total: number }> {
  let current = path;
  for (;;) {
    try {
      const s = await statfs(current);
      return { total: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize };
    } catch (error) {
      const parent = dirname(current);
      if (parent === current) throw error;
      current = parent;
    }
  }
}

/**
 * Samples the host with `systeminformation`: CPU busy % (`currentLoad`), memory in use
 * (`mem().total - mem().available`, what `free` calls used), network bytes/s summed over every
 * interface but loopback (`networkStats("*")`), the 1-minute load average, and the file system
 * holding `diskPath` (statfs, used = blocks - free). `prime()` must run once first: the first
 * `currentLoad`/`networkStats` calls only set the baseline (rates are null until then).
 */
export function createSampler(diskPath: string) {
  return {
    /** Takes the baseline readings (about 0.5 s); the next `sample()` has rates. */
    async prime(): Promise<void> {
      await Promise.allSettled([si.currentLoad(), si.networkStats("*")]);
    },

    /** One sample now; failing sources leave their fields undefined. */
    async sample(): Promise<Sample> {
      const at = Date.now();
      const [cpu, mem, net, disk] = await Promise.allSettled([si.currentLoad(), si.mem(), si.networkStats("*"), statfsNearest(diskPath)]);
      const load = settled(cpu);
      const memory = settled(mem);
      const interfaces = (settled(net) ?? []).filter((i) => i.iface !== "lo");
      const rate = (field: "rx_sec" | "tx_sec"): number | undefined => {
        const values = interfaces.map((i) => measured(i[field]));
        return values.length > 0 && values.every((v) => v !== undefined) ? values.reduce((a, b) => (a ?? 0) + (b ?? 0), 0) : undefined;
      };
      const fsUse = settled(disk);
      return {
        atMs: BigInt(at),
        cpuPercent: measured(load?.currentLoad),
        load1: measured(loadavg()[0]),
        memoryUsedBytes: memory ? measured(memory.total - memory.available) : undefined,
        memoryTotalBytes: measured(memory?.total),
        diskUsedBytes: measured(fsUse?.used),
        diskTotalBytes: measured(fsUse?.total),
        netRxBytesPerSecond: rate("rx_sec"),
        netTxBytesPerSecond: rate("tx_sec"),
      };
    },
  };
}

export type Sampler = ReturnType<typeof createSampler>;
