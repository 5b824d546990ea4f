export interface BackoffOptions {
  /** First retry after about this long (ms). Default 1000. */
  initialMs?: number;
  /** Never wait longer than this between attempts (ms). Default 5 minutes. */
  maxMs?: number;
  /** Growth per consecutive failure. Default 2. */
  factor?: number;
}

/**
 * Exponential backoff with jitter: attempt n (0-based) waits a random time in
 * [½, 1] × min(max, initial × factor^n) ("equal jitter"), so that phones coming back online
 * together do not retry in lockstep, and a wait never collapses to zero.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 1000;
  const max = options.maxMs ?? 5 * 60 * 1000;
  const factor = options.factor ?? 2;
  const ceiling = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Retry-After as milliseconds: delta-seconds ("120") or an HTTP date. Undefined when absent or
 * unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(parseFloat(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
