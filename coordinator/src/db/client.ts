import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client";

export { Prisma } from "../generated/prisma/client";
export type { PrismaClient };

/** The coordinator's database handles: one pg pool, shared by Prisma (driver adapter) and by the raw hot-path SQL of the job queue. */
export interface Database {
  pool: pg.Pool;
  prisma: PrismaClient;
  close(): Promise<void>;
}

/** A Prisma interactive-transaction client (what `prisma.$transaction(async (tx) => ...)` passes). */
export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

/** Opens a pool of at most `max` connections to `url` and a Prisma client over it. */
export function openDatabase(url: string, max = 20): Database {
  const pool = new pg.Pool({ connectionString: url, max });
  // An idle connection dropped by the server (restart, shutdown) must not crash the process;
  // the pool replaces it on next use.
  pool.on("error", () => undefined);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    pool,
    prisma,
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
