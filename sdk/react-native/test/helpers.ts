/** Test doubles: a manual clock and an in-memory Optimus mobile API that behaves like the server. */
import type { FetchLike, RequestInitLike, ResponseLike, Timers } from "../src/env";
import { MemoryStorage, OptimusClient, type OptimusConfig, type OptimusError } from "../src/index";

export class FakeClock implements Timers {
  private seq = 0;
  private tasks: { id: number; at: number; fn: () => void }[] = [];
  constructor(public t = Date.parse("2026-11-25T10:00:00Z")) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.tasks.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.tasks = this.tasks.filter((task) => task.id !== handle);
  }

  /** Delays of the timers now pending, soonest first (request time-outs excluded). */
  pending(): number[] {
    return this.tasks
      .map((task) => task.at - this.t)
      .filter((ms) => ms !== 30_000)
      .sort((a, b) => a - b);
  }

  /** Moves time forward, running every timer that falls due (and what they start), in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = this.tasks.filter((task) => task.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.tasks = this.tasks.filter((task) => task !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
    await settle();
  }
}

/** Lets pending promise chains (fetch answers, storage writes) run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export interface Request {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: any;
}

type Fault =
  | { kind: "network" }
  /** The server stores the request, then the connection dies before the answer arrives. */
  | { kind: "lost-answer" }
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: unknown };

function respond(status: number, body: unknown, headers: Record<string, string> = {}): ResponseLike {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    status,
    headers: { get: (name: string) => lower[name.toLowerCase()] ?? null },
    text: async () => (body === undefined ? "" : JSON.stringify(body)),
  };
}

/**
 * The mobile API as DESIGN.md describes it: events stored once per event_id with per-row
 * results, feedback once per (notification, action) with 201 then 200, devices upserted by token.
 */
export class FakeServer {
  readonly requests: Request[] = [];
  readonly events = new Map<string, any>();
  readonly feedback = new Map<string, any>();
  readonly devices = new Map<string, any>();
  readonly notifications = new Set<number>([1, 2, 3, 42]);
  readonly knownItems = new Set(["sku-1", "sku-2", "sku-3"]);
  token = "tok-1";
  up = true;
  private faults: { match: (r: Request) => boolean; fault: Fault }[] = [];

  /** The next request matching `path` (all requests when omitted) fails this way. */
  failNext(fault: Fault, path?: string | RegExp, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.faults.push({
        match: (r) => path === undefined || (typeof path === "string" ? r.path.startsWith(path) : path.test(r.path)),
        fault,
      });
    }
  }

  count(path: string | RegExp): number {
    return this.requests.filter((r) => (typeof path === "string" ? r.path.startsWith(path) : path.test(r.path))).length;
  }

  readonly fetch: FetchLike = async (url: string, init: RequestInitLike) => {
    const path = url.replace(/^https?:\/\/[^/]+\/api\/v1/, "");
    const request: Request = {
      method: init.method,
      path,
      headers: init.headers,
      body: init.body === undefined ? undefined : JSON.parse(init.body),
    };
    this.requests.push(request);
    if (!this.up) throw new TypeError("Network request failed");
    const index = this.faults.findIndex((f) => f.match(request));
    const fault = index >= 0 ? this.faults.splice(index, 1)[0]!.fault : undefined;
    if (fault?.kind === "network") throw new TypeError("Network request failed");
    if (fault?.kind === "status") return respond(fault.status, fault.body ?? { error: { code: "x", message: "fault" } }, fault.headers);
    const answer = this.handle(request);
    if (fault?.kind === "lost-answer") throw new TypeError("Network request failed");
    return answer;
  };

  private handle(r: Request): ResponseLike {
    if (r.headers["Authorization"] !== `Bearer ${this.token}`) {
      return respond(401, { error: { code: "unauthenticated", message: "Invalid token." } });
    }
    if (r.method === "POST" && r.path === "/events") {
      const events: any[] = r.body.events;
      if (events.length > 500) return respond(400, { error: { code: "invalid", message: "events: at most 500" } });
      const reply = { accepted: 0, duplicates: 0, rejected: [] as any[], results: [] as any[] };
      events.forEach((e, index) => {
        if (e.item_id != null && !this.knownItems.has(e.item_id)) {
          reply.rejected.push({ index, error: `unknown item_id '${e.item_id}'` });
          reply.results.push({ index, status: "rejected", error: `unknown item_id '${e.item_id}'` });
        } else if (this.events.has(e.event_id)) {
          reply.duplicates++;
          reply.results.push({ index, status: "duplicate" });
        } else {
          this.events.set(e.event_id, e);
          reply.accepted++;
          reply.results.push({ index, status: "accepted" });
        }
      });
      return respond(200, reply);
    }
    if (r.method === "POST" && r.path === "/me/feedback") {
      const rows: any[] = r.body.feedback;
      if (rows.length > 500) return respond(400, { error: { code: "invalid", message: "feedback: at most 500" } });
      const reply = { accepted: 0, duplicates: 0, rejected: [] as any[], results: [] as any[] };
      rows.forEach((f, index) => {
        const { notification_id: id, ...report } = f;
        const key = `${id}:${f.action}`;
        if (!this.notifications.has(id)) {
          const error = "not_found: no such notification for this customer";
          reply.rejected.push({ index, error });
          reply.results.push({ index, status: "rejected", error });
        } else if (this.feedback.has(key)) {
          reply.duplicates++;
          reply.results.push({ index, status: "duplicate" });
        } else {
          this.feedback.set(key, report);
          reply.accepted++;
          reply.results.push({ index, status: "accepted" });
        }
      });
      return respond(200, reply);
    }
    const fb = /^\/notifications\/(\d+)\/feedback$/.exec(r.path);
    if (r.method === "POST" && fb) {
      const id = Number(fb[1]);
      if (!this.notifications.has(id)) return respond(404, { error: { code: "not_found", message: "No such notification." } });
      const key = `${id}:${r.body.action}`;
      const repeat = this.feedback.has(key);
      if (!repeat) this.feedback.set(key, r.body);
      return respond(repeat ? 200 : 201, { notification_id: id, action: r.body.action, duplicate: repeat });
    }
    if (r.method === "POST" && r.path === "/devices") {
      if (r.body.timezone && r.body.timezone !== "UTC" && !r.body.timezone.includes("/")) {
        return respond(400, { error: { code: "invalid", message: "timezone: bad", fields: { timezone: ["bad"] } } });
      }
      const created = !this.devices.has(r.body.token);
      this.devices.set(r.body.token, r.body);
      return respond(created ? 201 : 200, { id: 7, platform: r.body.platform, app_version: "", timezone: "" });
    }
    if (r.method === "GET" && r.path.startsWith("/notifications")) {
      return respond(200, { count: 1, next: null, previous: null, results: [{ id: 42, type: "newsletter", title: "t", body: "b", link: "", item_ids: [], sent_at: "2026-11-25T10:00:00Z", delivered_at: null, opened_at: null, dismissed_at: null }] });
    }
    if (r.path === "/me/preferences") {
      return respond(200, { opt_out: false, quiet_hours: null, timezone: "Europe/Berlin", muted_types: [], ...(r.body ?? {}) });
    }
    return respond(404, { error: { code: "not_found", message: "No endpoint." } });
  }
}

export interface Harness {
  clock: FakeClock;
  server: FakeServer;
  storage: MemoryStorage;
  errors: OptimusError[];
  client: OptimusClient;
}

export function harness(config: Partial<OptimusConfig> = {}, shared: Partial<Harness> = {}): Harness {
  const clock = shared.clock ?? new FakeClock();
  const server = shared.server ?? new FakeServer();
  const storage = shared.storage ?? new MemoryStorage();
  const errors: OptimusError[] = [];
  const client = new OptimusClient({
    baseUrl: "https://optimus.test",
    getToken: () => server.token,
    fetch: server.fetch,
    storage,
    timers: clock,
    random: () => 0.5,
    onError: (e) => errors.push(e),
    ...config,
  });
  return { clock, server, storage, errors, client };
}
