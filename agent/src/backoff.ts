/**
 * Reconnect delay: a random time inside `baseMs * 2 ** min(attempt, 6)` ("full jitter", as in
 * AWS's backoff study), so a coordinator restart does not bring every agent back at the same
 * instant. `attempt` counts failures since the last healthy stream.
 */
export function backoffDelay(attempt: number, baseMs = 500, random = Math.random): number {
  return Math.floor(random() * baseMs * 2 ** Math.min(attempt, 6));
}
