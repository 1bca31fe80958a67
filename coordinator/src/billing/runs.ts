import type { Pool } from "pg";

/** Advisory lock ids of billing's periodic runs (the coordinator's other locks are 7245001-7245003). */
export const RUN_LOCKS = { renewals: 7_245_101, dunning: 7_245_102 } as const;

/**
 * Runs `fn` while holding the session-level PostgreSQL advisory lock `key` on a dedicated
 * connection, so exactly one replica (or one concurrent call) does a periodic run; returns
 * null without running `fn` when another holder has it. The lock is released even if `fn` throws.
 */
export async function withRunLock<T>(pool: Pool, key: number, fn: () => Promise<T>): Promise<T | null> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [key]);
    if (!rows[0]?.ok) return null;
    try {
      return await fn();
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [key]);
    }
  } finally {
    client.release();
  }
}
