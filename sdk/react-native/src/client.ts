import { backoffDelay, parseRetryAfter, type BackoffOptions } from "./backoff";
import { appStateFromReactNative, sanitizeContext, type DeviceContextProvider } from "./context";
import { defaultFetch, defaultTimers, timeoutSignal, uuidv4, type FetchLike, type Timers } from "./env";
import { OptimusError } from "./errors";
import { parsePushData, type OptimusPush, type PushData } from "./payload";
import { PersistentQueue, type DeviceItem, type EventItem, type FeedbackItem, type QueueItem } from "./queue";
import { MemoryStorage, type QueueStorage } from "./storage";
import type {
  ApiErrorBody,
  AppStateValue,
  BatchReply,
  DeviceContext,
  DeviceRequest,
  EventType,
  FeedbackAction,
  InboxPage,
  MobileEvent,
  Platform,
  Preferences,
  PreferencesPatch,
} from "./types";

/** The server's limit for POST /events. */
export const MAX_BATCH = 500;
// Records keyed by the generated enums: a value added to (or removed from) the server's schema
// fails to compile here once api-types.ts is regenerated.
const EVENT_TYPE_SET: Record<EventType, true> = { app_open: true, view: true, addtocart: true, transaction: true };
const PLATFORM_SET: Record<Platform, true> = { fcm: true, apns: true, webpush: true };
export const EVENT_TYPES = Object.keys(EVENT_TYPE_SET) as readonly EventType[];
export const PLATFORMS = Object.keys(PLATFORM_SET) as readonly Platform[];

export interface OptimusConfig {
  /** The Optimus server, e.g. "https://optimus.example.com" (a trailing "/api/v1" is fine too). */
  baseUrl: string;
  /**
   * The customer's mobile token (your backend mints it with POST /customers/{id}/token). Called
   * before every request, so a new token after a sign-in is picked up; null while signed out
   * (the queue then waits).
   */
  getToken: () => string | null | undefined | Promise<string | null | undefined>;
  /** Where the queue survives restarts: `asyncStorage(AsyncStorage)` in an app. Default: memory. */
  storage?: QueueStorage;
  /** Device state attached to feedback. Default: none. */
  deviceContext?: DeviceContextProvider;
  /** Default: the global fetch. */
  fetch?: FetchLike;
  /** Told about everything dropped or refused (see OptimusError's codes). */
  onError?: (error: OptimusError) => void;
  /** Events per POST /events, at most 500 (the default). */
  batchSize?: number;
  /** After something is queued, wait this long so that events travel together. Default 1000 ms. */
  flushDelayMs?: number;
  backoff?: BackoffOptions;
  /** A request that has not answered by then counts as a network error. Default 30 s. */
  requestTimeoutMs?: number;
  /** At most this many queued items; past it the oldest events are dropped. Default 10,000. */
  maxQueueSize?: number;
  /** The storage key of the queue. Default "optimus:queue:v1". */
  storageKey?: string;
  /** Sent with registerDevice. */
  appVersion?: string;
  /** The phone's IANA time zone for registerDevice. Default: Intl's, when the platform has it. */
  timezone?: string | (() => string | undefined);
  /** How long the device-context provider may take before the feedback is queued without it. Default 1000 ms. */
  contextTimeoutMs?: number;
  /** For tests: timers and randomness. */
  timers?: Timers;
  random?: () => number;
}

export interface FeedbackOptions {
  /** The app state at that moment, when the caller knows better than the provider (e.g. "killed"). */
  appState?: AppStateValue;
  /** When it happened. Default: now. */
  at?: Date;
}

export interface RegisterOptions {
  appVersion?: string;
  timezone?: string;
  /** Web Push only. */
  keys?: { p256dh: string; auth: string };
  browser?: DeviceRequest["browser"];
}

export interface FlushReport {
  /** Items the server answered for (stored, or duplicates of what it had). */
  sent: number;
  /** Items dropped because the server refused them (reported through onError). */
  dropped: number;
  /** Items still queued. */
  remaining: number;
  /** When the next automatic attempt is due, if one is scheduled after a failure (ms from now). */
  retryInMs?: number;
  /** Why sending stopped early, if it did. */
  stopped?: "offline" | "unauthenticated" | "retrying";
}

type Listener<T> = (value: T) => void;
interface ClientEvents {
  error: OptimusError;
  sent: readonly QueueItem[];
}

type Outcome =
  | { kind: "done"; sent: number; dropped: number }
  | { kind: "retry"; retryAfterMs?: number }
  | { kind: "again" }
  | { kind: "unauthenticated" };

interface HttpAnswer {
  status: number;
  json: unknown;
  retryAfterMs: number | undefined;
}

/** Resolve the JSON of an error answer, if it is in the API's error shape. */
function errorBody(json: unknown): ApiErrorBody | undefined {
  if (json && typeof json === "object" && "error" in json) {
    const e = (json as { error: unknown }).error;
    if (e && typeof e === "object" && typeof (e as { code?: unknown }).code === "string") return json as ApiErrorBody;
  }
  return undefined;
}

function describe(answer: HttpAnswer): string {
  const body = errorBody(answer.json);
  return body ? `${answer.status} ${body.error.code}: ${body.error.message}` : `HTTP ${answer.status}`;
}

function defaultTimezone(): string | undefined {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    return typeof zone === "string" && zone.includes("/") ? zone : zone === "UTC" ? "UTC" : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One app installation talking to one Optimus server. `Optimus.init` makes the app-wide one;
 * tests and multi-account apps can create their own.
 */
export class OptimusClient {
  /** Resolves once the queue left by a previous run is loaded. */
  readonly ready: Promise<void>;

  private readonly api: string;
  private readonly fetchImpl: FetchLike;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly queue: PersistentQueue;
  private readonly listeners: { [K in keyof ClientEvents]: Set<Listener<ClientEvents[K]>> } = {
    error: new Set(),
    sent: new Set(),
  };

  private batchSize: number;
  private online = true;
  private failures = 0;
  private notBefore = 0;
  private authPaused = false;
  private timer: unknown = null;
  private timerDue = 0;
  private flushing: Promise<FlushReport> | null = null;
  private readonly idleChecks = new Set<() => void>();
  private disposed = false;

  constructor(private readonly config: OptimusConfig) {
    if (!config || typeof config.baseUrl !== "string" || !/^https?:\/\//.test(config.baseUrl)) {
      throw new TypeError("Optimus.init: baseUrl must be an http(s) URL");
    }
    if (typeof config.getToken !== "function") throw new TypeError("Optimus.init: getToken must be a function");
    const base = config.baseUrl.replace(/\/+$/, "");
    this.api = /\/api\/v1$/.test(base) ? base : `${base}/api/v1`;
    this.fetchImpl = config.fetch ?? defaultFetch();
    this.timers = config.timers ?? defaultTimers;
    this.random = config.random ?? Math.random;
    this.batchSize = Math.max(1, Math.min(MAX_BATCH, Math.floor(config.batchSize ?? MAX_BATCH)));
    this.queue = new PersistentQueue(
      config.storage ?? new MemoryStorage(),
      config.storageKey ?? "optimus:queue:v1",
      Math.max(1, config.maxQueueSize ?? 10_000),
      (error) => this.report(new OptimusError("storage", `optimus: queue storage failed: ${String(error)}`)),
      (dropped) =>
        this.report(
          new OptimusError("queue_full", `optimus: queue full, dropped the ${dropped.length} oldest event(s)`, {
            items: dropped,
          }),
        ),
    );
    this.queue.subscribe(() => void Promise.resolve().then(() => this.checkIdle()));
    this.ready = this.queue.load().then(() => {
      if (this.queue.size > 0) this.schedule(0);
    });
  }

  // --- what the app calls -------------------------------------------------------------------

  /**
   * Registers this phone's push token (idempotent on the server per token). Queued like
   * everything else, so it happens as soon as the server is reachable; a newer registration
   * replaces one still waiting.
   */
  async registerDevice(pushToken: string, platform: Platform, options: RegisterOptions = {}): Promise<void> {
    if (typeof pushToken !== "string" || pushToken.trim() === "") throw new TypeError("registerDevice: empty push token");
    if (!PLATFORMS.includes(platform)) throw new TypeError(`registerDevice: platform must be one of ${PLATFORMS.join(", ")}`);
    const device: DeviceRequest = { platform, token: pushToken.trim() };
    const appVersion = options.appVersion ?? this.config.appVersion;
    if (appVersion) device.app_version = appVersion;
    const zone =
      options.timezone ??
      (typeof this.config.timezone === "function" ? this.config.timezone() : this.config.timezone) ??
      defaultTimezone();
    if (zone) device.timezone = zone;
    if (options.keys) device.keys = options.keys;
    if (options.browser) device.browser = options.browser;
    await this.ready;
    const item: DeviceItem = { kind: "device", id: "device", queuedAt: this.timers.now(), device };
    await this.queue.push(item, { replaceKind: "device" });
    this.authPaused = false; // a (re-)registration often follows a sign-in: worth a try
    this.schedule(0);
  }

  /**
   * Records a behaviour event: `app_open` (no item), `view`, `addtocart` or `transaction` (with
   * the item's external id; `amount` for purchases). Resolves with the event's id once it is
   * safely queued.
   */
  async track(type: EventType, itemId?: string | null, amount?: number | null): Promise<string> {
    if (!EVENT_TYPES.includes(type)) throw new TypeError(`track: type must be one of ${EVENT_TYPES.join(", ")}`);
    if (type === "app_open" && itemId != null) throw new TypeError("track: an app_open event has no item");
    if (type !== "app_open" && (typeof itemId !== "string" || itemId === "")) {
      throw new TypeError(`track: a ${type} event needs an item id`);
    }
    if (amount != null && (typeof amount !== "number" || !Number.isFinite(amount))) {
      throw new TypeError("track: amount must be a finite number");
    }
    const event: MobileEvent = { event_id: uuidv4(), type, at: new Date(this.timers.now()).toISOString() };
    if (itemId != null) event.item_id = itemId;
    if (amount != null) event.amount = amount;
    await this.ready;
    const item: EventItem = { kind: "event", id: event.event_id, queuedAt: this.timers.now(), event };
    await this.queue.push(item);
    this.scheduleSoon();
    return event.event_id;
  }

  /** The push arrived on the phone. `notificationId` is the push data's `notification_id`. */
  notificationReceived(notificationId: number | string, options?: FeedbackOptions): Promise<void> {
    return this.feedback("delivered", notificationId, options);
  }

  /** The person tapped the notification. */
  notificationOpened(notificationId: number | string, options?: FeedbackOptions): Promise<void> {
    return this.feedback("opened", notificationId, options);
  }

  /** The person swiped the notification away. */
  notificationDismissed(notificationId: number | string, options?: FeedbackOptions): Promise<void> {
    return this.feedback("dismissed", notificationId, options);
  }

  /**
   * Queues one feedback action with the device context of this moment. Repeats of an action
   * still queued are ignored; later repeats are harmless (the server keeps the first).
   */
  async feedback(action: FeedbackAction, notificationId: number | string, options: FeedbackOptions = {}): Promise<void> {
    const id = typeof notificationId === "string" ? Number(notificationId.trim()) : notificationId;
    if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError(`feedback: bad notification id ${String(notificationId)}`);
    const at = options.at ?? new Date(this.timers.now());
    const context: DeviceContext = await this.readContext();
    if (options.appState) context.app_state = options.appState;
    const item: FeedbackItem = {
      kind: "feedback",
      id: `feedback:${id}:${action}`,
      queuedAt: this.timers.now(),
      notificationId: id,
      feedback: { action, at: at.toISOString(), ...(Object.keys(context).length ? { context } : {}) },
    };
    await this.ready;
    await this.queue.push(item);
    this.scheduleSoon();
  }

  /**
   * Reports `action` for a push given by its data payload; returns the parsed Optimus fields, or
   * null (and reports nothing) when the push is not from Optimus. What the adapters use.
   */
  async handlePush(data: PushData, action: FeedbackAction, options?: FeedbackOptions): Promise<OptimusPush | null> {
    const push = parsePushData(data);
    if (push) await this.feedback(action, push.notificationId, options);
    return push;
  }

  /** The customer's notifications, newest first. */
  async inbox(options: { page?: number; pageSize?: number } = {}): Promise<InboxPage> {
    const query: string[] = [];
    if (options.page !== undefined) query.push(`page=${encodeURIComponent(String(options.page))}`);
    if (options.pageSize !== undefined) query.push(`page_size=${encodeURIComponent(String(options.pageSize))}`);
    const json = await this.call("GET", `/notifications${query.length ? `?${query.join("&")}` : ""}`);
    if (Array.isArray(json)) return { count: json.length, next: null, previous: null, results: json };
    return json as InboxPage;
  }

  async getPreferences(): Promise<Preferences> {
    return (await this.call("GET", "/me/preferences")) as Preferences;
  }

  /** Changes only what is given: opt_out, quiet_hours ({start, end} "HH:MM" local, or null), timezone, muted_types. */
  async setPreferences(changes: PreferencesPatch): Promise<Preferences> {
    return (await this.call("PATCH", "/me/preferences", changes)) as Preferences;
  }

  // --- the queue ----------------------------------------------------------------------------

  /** Items waiting to be sent. */
  get pending(): number {
    return this.queue.size;
  }

  queued(): readonly QueueItem[] {
    return this.queue.snapshot();
  }

  /**
   * Sends what is queued now (devices, then events in batches, then feedback). Resolves when the
   * queue is empty or sending had to stop (offline, a retry was scheduled, or the token was refused).
   */
  flush(): Promise<FlushReport> {
    if (!this.flushing) {
      this.flushing = this.run().finally(() => {
        this.flushing = null;
        this.checkIdle();
      });
    }
    return this.flushing;
  }

  /** Resolves true once the queue is empty (retries keep running), false after `timeoutMs`. */
  whenIdle(timeoutMs = Infinity): Promise<boolean> {
    return new Promise((resolve) => {
      let handle: unknown = null;
      const check = () => {
        if (this.queue.size > 0 || this.flushing) return;
        finish(true);
      };
      const finish = (value: boolean) => {
        this.idleChecks.delete(check);
        if (handle !== null) this.timers.clearTimeout(handle);
        resolve(value);
      };
      this.idleChecks.add(check);
      if (Number.isFinite(timeoutMs)) handle = this.timers.setTimeout(() => finish(false), timeoutMs);
      void this.ready.then(() => this.checkIdle());
    });
  }

  private checkIdle(): void {
    for (const check of Array.from(this.idleChecks)) check();
  }

  /** Connectivity changed (the lifecycle adapter calls this from NetInfo). Back online: send now. */
  setOnline(online: boolean): void {
    const was = this.online;
    this.online = online;
    if (!online) {
      this.cancelTimer();
    } else if (!was) {
      this.failures = 0;
      this.schedule(0);
    }
  }

  /** The app's state changed (React Native's AppState values or the API's). Foreground: send now. */
  setAppState(state: string): void {
    const value = appStateFromReactNative(state) ?? (state === "foreground" ? "foreground" : undefined);
    if (value === "foreground") {
      this.failures = 0;
      this.authPaused = false;
      this.schedule(0);
    }
  }

  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    const set = this.listeners[event] as Set<Listener<ClientEvents[K]>>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Stops timers (the queue stays stored). */
  dispose(): void {
    this.disposed = true;
    this.cancelTimer();
  }

  // --- internals ----------------------------------------------------------------------------

  private report(error: OptimusError): void {
    try {
      this.config.onError?.(error);
    } catch {
      // the app's handler must not break the queue
    }
    for (const listener of Array.from(this.listeners.error)) {
      try {
        listener(error);
      } catch {
        // idem
      }
    }
  }

  private emitSent(items: readonly QueueItem[]): void {
    for (const listener of Array.from(this.listeners.sent)) {
      try {
        listener(items);
      } catch {
        // idem
      }
    }
  }

  private async readContext(): Promise<DeviceContext> {
    const provider = this.config.deviceContext;
    if (!provider) return {};
    const limit = this.config.contextTimeoutMs ?? 1000;
    let handle: unknown = null;
    try {
      const timeout = new Promise<undefined>((resolve) => {
        handle = this.timers.setTimeout(() => resolve(undefined), limit);
      });
      return sanitizeContext(await Promise.race([Promise.resolve().then(provider), timeout]));
    } catch {
      return {};
    } finally {
      if (handle !== null) this.timers.clearTimeout(handle);
    }
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  /** A flush in `ms` (an earlier one already scheduled stays). */
  private schedule(ms: number): void {
    if (this.disposed || !this.online) return;
    const wait = Math.max(ms, this.notBefore - this.timers.now(), 0);
    const due = this.timers.now() + wait;
    if (this.timer !== null && this.timerDue <= due) return;
    this.cancelTimer();
    this.timerDue = due;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      void this.flush().catch(() => undefined);
    }, wait);
  }

  /** After something was queued: soon, unless we are backing off or the token was refused. */
  private scheduleSoon(): void {
    if (this.failures > 0 || this.authPaused) return;
    this.schedule(this.config.flushDelayMs ?? 1000);
  }

  private async run(): Promise<FlushReport> {
    await this.ready;
    const report: FlushReport = { sent: 0, dropped: 0, remaining: 0 };
    const finish = (extra: Partial<FlushReport> = {}): FlushReport => ({
      ...report,
      ...extra,
      remaining: this.queue.size,
    });
    if (!this.online) return finish({ stopped: "offline" });
    const wait = this.notBefore - this.timers.now();
    if (wait > 0) {
      this.schedule(wait);
      return finish({ stopped: "retrying", retryInMs: wait });
    }
    this.cancelTimer();
    for (;;) {
      if (!this.online) return finish({ stopped: "offline" });
      const items = this.queue.snapshot();
      const device = items.find((i): i is DeviceItem => i.kind === "device");
      const events = items.filter((i): i is EventItem => i.kind === "event");
      const feedback = items.filter((i): i is FeedbackItem => i.kind === "feedback");
      let outcome: Outcome;
      if (device) outcome = await this.sendDevice(device);
      else if (events.length) outcome = await this.sendEvents(events.slice(0, this.batchSize));
      else if (feedback.length) outcome = await this.sendFeedback(feedback.slice(0, this.batchSize));
      else return finish();

      if (outcome.kind === "done") {
        this.failures = 0;
        report.sent += outcome.sent;
        report.dropped += outcome.dropped;
      } else if (outcome.kind === "retry") {
        const delay = outcome.retryAfterMs ?? backoffDelay(this.failures, this.config.backoff, this.random);
        this.failures += 1;
        if (outcome.retryAfterMs !== undefined) this.notBefore = this.timers.now() + outcome.retryAfterMs;
        this.schedule(delay);
        return finish({ stopped: "retrying", retryInMs: delay });
      } else if (outcome.kind === "unauthenticated") {
        return finish({ stopped: "unauthenticated" });
      }
      // "again": loop at once (a smaller batch, or a corrected registration)
    }
  }

  private async token(): Promise<string | null> {
    try {
      const token = await this.config.getToken();
      return typeof token === "string" && token !== "" ? token : null;
    } catch {
      return null;
    }
  }

  /** One HTTP exchange; null on a network error (no answer, timeout). */
  private async http(method: string, path: string, body: unknown, token: string): Promise<HttpAnswer | null> {
    const timeout = timeoutSignal(this.config.requestTimeoutMs ?? 30_000, this.timers);
    try {
      const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await this.fetchImpl(`${this.api}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(timeout.signal !== undefined ? { signal: timeout.signal } : {}),
      });
      let json: unknown = undefined;
      let text = "";
      try {
        text = await response.text();
      } catch {
        return null; // the connection died while the body was coming
      }
      if (text) {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      return {
        status: response.status,
        json,
        retryAfterMs: parseRetryAfter(response.headers.get("Retry-After"), this.timers.now()),
      };
    } catch {
      return null;
    } finally {
      timeout.clear();
    }
  }

  /**
   * A queued request with the SDK's rules: no token or 401 → unauthenticated (try again once with
   * a fresh token); no answer, 429, 5xx → retry later; anything else is the caller's to read.
   */
  private async exchange(
    method: string,
    path: string,
    body: unknown,
    items: readonly QueueItem[],
  ): Promise<HttpAnswer | Exclude<Outcome, { kind: "done" } | { kind: "again" }>> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.token();
      const answer = token === null ? null : await this.http(method, path, body, token);
      if (token !== null && answer === null) return { kind: "retry" };
      if (token !== null && answer && answer.status !== 401) {
        this.authPaused = false;
        if (answer.status === 429 || answer.status >= 500) {
          return answer.retryAfterMs !== undefined ? { kind: "retry", retryAfterMs: answer.retryAfterMs } : { kind: "retry" };
        }
        return answer;
      }
      if (attempt === 0 && token !== null) continue; // a 401: the app may have a fresh token by now
      if (!this.authPaused) {
        this.authPaused = true;
        this.report(
          new OptimusError(
            "unauthenticated",
            token === null
              ? "optimus: no customer token (getToken returned nothing); the queue waits"
              : `optimus: the customer token was refused (${answer ? describe(answer) : "401"}); the queue waits`,
            { status: answer?.status, body: answer ? errorBody(answer.json) : undefined, items },
          ),
        );
      }
      return { kind: "unauthenticated" };
    }
  }

  private async drop(items: readonly QueueItem[], answer: HttpAnswer, what: string): Promise<Outcome> {
    await this.queue.remove(items.map((i) => i.id));
    this.report(
      new OptimusError("client_error", `optimus: ${what} refused (${describe(answer)}); dropped`, {
        status: answer.status,
        body: errorBody(answer.json),
        items,
      }),
    );
    return { kind: "done", sent: 0, dropped: items.length };
  }

  private async sendDevice(item: DeviceItem): Promise<Outcome> {
    const answer = await this.exchange("POST", "/devices", item.device, [item]);
    if (!("status" in answer)) return answer;
    if (answer.status === 200 || answer.status === 201) {
      await this.queue.remove([item.id]);
      this.emitSent([item]);
      return { kind: "done", sent: 1, dropped: 0 };
    }
    const fields = errorBody(answer.json)?.error.fields ?? {};
    if (answer.status === 400 && item.device.timezone && "timezone" in fields) {
      // The phone's zone name is unknown to the server: register without it rather than not at all.
      const { timezone: _unused, ...device } = item.device;
      await this.queue.replace({ ...item, device });
      return { kind: "again" };
    }
    return this.drop([item], answer, "device registration");
  }

  private sendEvents(batch: EventItem[]): Promise<Outcome> {
    return this.sendBatch("/events", { events: batch.map((i) => i.event) }, batch, (i) => `event ${i.event.type} ${i.id}`);
  }

  private sendFeedback(batch: FeedbackItem[]): Promise<Outcome> {
    const feedback = batch.map((i) => ({ notification_id: i.notificationId, ...i.feedback }));
    return this.sendBatch("/me/feedback", { feedback }, batch, (i) => `${i.feedback.action} feedback for notification ${i.notificationId}`);
  }

  /**
   * One batch call (`/events`, `/me/feedback`): the reply says, row by row, what was stored; a
   * rejected row is reported and dropped (resending it would be rejected again), the rest are done.
   * 413: the batch is halved and sent again.
   */
  private async sendBatch<T extends QueueItem>(path: string, body: unknown, batch: T[], what: (item: T) => string): Promise<Outcome> {
    const answer = await this.exchange("POST", path, body, batch);
    if (!("status" in answer)) return answer;
    if (answer.status === 200) {
      const reply = answer.json as BatchReply | undefined;
      if (!reply || !Array.isArray(reply.results)) return { kind: "retry" }; // not the API answering
      const rejected: { item: T; error: string }[] = [];
      for (const row of reply.results) {
        const item = batch[row.index];
        if (item && row.status === "rejected") rejected.push({ item, error: row.error ?? "rejected" });
      }
      await this.queue.remove(batch.map((i) => i.id));
      const accepted = batch.filter((i) => !rejected.some((r) => r.item === i));
      if (accepted.length) this.emitSent(accepted);
      for (const r of rejected) {
        this.report(
          new OptimusError("rejected", `optimus: ${what(r.item)} rejected: ${r.error}`, { status: 200, items: [r.item] }),
        );
      }
      return { kind: "done", sent: accepted.length, dropped: rejected.length };
    }
    if (answer.status === 413 && batch.length > 1) {
      this.batchSize = Math.max(1, Math.floor(batch.length / 2));
      return { kind: "again" };
    }
    return this.drop(batch, answer, `batch of ${batch.length} ${path === "/events" ? "event(s)" : "feedback report(s)"}`);
  }

  /** A direct call (inbox, preferences): no queue, errors thrown to the caller. */
  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const token = await this.token();
    if (token === null) throw new OptimusError("unauthenticated", "optimus: no customer token (getToken returned nothing)");
    const answer = await this.http(method, path, body, token);
    if (answer === null) throw new OptimusError("network", `optimus: ${method} ${path}: no answer from the server`);
    if (answer.status >= 200 && answer.status < 300) return answer.json;
    const code = answer.status === 401 ? "unauthenticated" : answer.status >= 500 ? "server_error" : "client_error";
    throw new OptimusError(code, `optimus: ${method} ${path}: ${describe(answer)}`, {
      status: answer.status,
      body: errorBody(answer.json),
    });
  }
}
