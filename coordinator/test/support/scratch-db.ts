import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * Creates a throwaway database `<prefix>_<random hex>` on the server of `base` (a PostgreSQL
 * URL whose user may CREATE DATABASE) and returns its URL; `drop` removes it, closing open
 * connections (PostgreSQL 13+ `WITH (FORCE)`).
 */
export async function scratchDatabase(base: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const run = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: base });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
