/**
 * The few platform APIs the SDK uses (fetch, timers, randomness), typed locally so that the package
 * compiles without the DOM or Node type libraries and runs the same in React Native and Node.
 */

export interface ResponseLike {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface RequestInitLike {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: unknown;
}

export type FetchLike = (url: string, init: RequestInitLike) => Promise<ResponseLike>;

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

interface AbortControllerLike {
  readonly signal: unknown;
  abort(): void;
}

interface Globals {
  fetch?: FetchLike;
  setTimeout?: (callback: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  AbortController?: new () => AbortControllerLike;
  crypto?: { randomUUID?: () => string; getRandomValues?: (array: Uint8Array) => Uint8Array };
}

const g = globalThis as unknown as Globals;

export function defaultFetch(): FetchLike {
  const f = g.fetch;
  if (typeof f !== "function") {
    throw new Error("optimus-react-native: no global fetch; pass `fetch` to Optimus.init");
  }
  return (url, init) => f.call(globalThis, url, init);
}

export const defaultTimers: Timers = {
  setTimeout: (callback, ms) => (g.setTimeout as NonNullable<Globals["setTimeout"]>)(callback, ms),
  clearTimeout: (handle) => (g.clearTimeout as NonNullable<Globals["clearTimeout"]>)(handle),
  now: () => Date.now(),
};

/** An abort signal that fires after `ms`, when the platform has AbortController. */
export function timeoutSignal(ms: number, timers: Timers): { signal?: unknown; clear(): void } {
  const Controller = g.AbortController;
  if (typeof Controller !== "function") return { clear() {} };
  const controller = new Controller();
  const handle = timers.setTimeout(() => controller.abort(), ms);
  return { signal: controller.signal, clear: () => timers.clearTimeout(handle) };
}

/**
 * A random (version 4) UUID: `crypto.randomUUID`, else `crypto.getRandomValues` (React Native with
 * react-native-get-random-values), else Math.random — still 122 random bits, enough for ids that
 * only have to be unique per customer.
 */
export function uuidv4(): string {
  const c = g.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") {
    c.getRandomValues(bytes);
  } else {
    for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
