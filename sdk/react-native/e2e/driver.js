#!/usr/bin/env node
/**
 * The phone, for tests/test_sdk_e2e.py: the built SDK (dist/) in Node, driven over stdin/stdout
 * with one JSON object per line. Requests: {"id", "cmd", ...}; answers: {"id", "ok", "result"} or
 * {"id", "ok": false, "error"}; unprompted: {"event", ...}. Commands run concurrently, so the test
 * can act (stop the server) while a flush is under way.
 *
 * The push libraries are stood in for by emitters with their APIs (the same shapes the unit tests
 * use): the SDK's real adapters are attached to them.
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const sdk = require("../dist/index.js");

/** A QueueStorage on a file (what AsyncStorage is on a phone): a write is a rename, never half a file. */
class FileStorage {
  constructor(file) {
    this.file = file;
  }
  async getItem(key) {
    try {
      return JSON.parse(fs.readFileSync(this.file, "utf8"))[key] ?? null;
    } catch {
      return null;
    }
  }
  async setItem(key, value) {
    let all = {};
    try {
      all = JSON.parse(fs.readFileSync(this.file, "utf8"));
    } catch {}
    all[key] = value;
    fs.writeFileSync(`${this.file}.tmp`, JSON.stringify(all));
    fs.renameSync(`${this.file}.tmp`, this.file);
  }
  async removeItem(key) {
    const all = JSON.parse(await fs.promises.readFile(this.file, "utf8").catch(() => "{}"));
    delete all[key];
    fs.writeFileSync(this.file, JSON.stringify(all));
  }
}

class Emitter {
  constructor() {
    this.listeners = {};
  }
  on(kind, listener) {
    (this.listeners[kind] ??= []).push(listener);
    return () => (this.listeners[kind] = this.listeners[kind].filter((l) => l !== listener));
  }
  emit(kind, value) {
    for (const l of this.listeners[kind] ?? []) l(value);
  }
}

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

let client = null;
let token = null;
const messaging = new Emitter();
let pushToken = null;
const log = []; // every exchange the SDK made: {method, path, status | "network-error", accepted?, duplicates?}
const errors = [];
let hold = null; // {path, remaining, released: Promise, release()}
let loseNext = []; // paths whose next answer is "lost" after the server processed the request

function instrumentedFetch(url, init) {
  const p = new URL(url).pathname.replace(/^\/api\/v1/, "");
  return (async () => {
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      log.push({ method: init.method, path: p, status: "network-error" });
      throw error;
    }
    const text = await response.text();
    const entry = { method: init.method, path: p, status: response.status };
    if ((p === "/events" || p === "/me/feedback") && response.status === 200) {
      const reply = JSON.parse(text);
      entry.accepted = reply.accepted;
      entry.duplicates = reply.duplicates;
      entry.rejected = reply.rejected.length;
    }
    const lose = loseNext.findIndex((prefix) => p.startsWith(prefix));
    if (lose >= 0) {
      loseNext.splice(lose, 1);
      entry.lost = true;
      log.push(entry);
      throw new TypeError("network error: the answer was lost");
    }
    log.push(entry);
    if (hold && p.startsWith(hold.path) && response.status < 300 && --hold.remaining === 0) {
      const h = hold;
      send({ event: "held", path: p });
      await h.released;
    }
    return { status: response.status, headers: response.headers, text: async () => text };
  })();
}

const commands = {
  init({ baseUrl, customerToken, storageFile, fcmToken }) {
    token = customerToken;
    pushToken = fcmToken;
    client = sdk.Optimus.init({
      baseUrl,
      getToken: () => token,
      storage: new FileStorage(storageFile),
      fetch: instrumentedFetch,
      deviceContext: sdk.staticContext({ battery: 64, charging: false, network: "wifi", app_state: "foreground", os: "Android 15" }),
      appVersion: "1.2.3",
      timezone: "UTC",
      flushDelayMs: 50,
      backoff: { initialMs: 200, maxMs: 1500 },
      requestTimeoutMs: 10_000,
      onError: (e) => errors.push({ code: e.code, status: e.status, message: e.message }),
    });
    const fakeMessaging = {
      getToken: async () => pushToken,
      onTokenRefresh: (l) => messaging.on("token", l),
      onMessage: (l) => messaging.on("message", l),
      onNotificationOpenedApp: (l) => messaging.on("opened", l),
      getInitialNotification: async () => null,
    };
    sdk.attachFirebaseMessaging(client, fakeMessaging);
    return client.ready.then(() => ({ pending: client.pending }));
  },
  async track({ events }) {
    const ids = [];
    for (const e of events) ids.push(await client.track(e.type, e.itemId ?? null, e.amount ?? null));
    return ids;
  },
  /** FCM delivers a push while the app is in the foreground (onMessage). */
  pushForeground({ data }) {
    messaging.emit("message", { messageId: "m-1", data });
    return null;
  },
  /** The person taps a push while the app is in the background (onNotificationOpenedApp). */
  pushOpened({ data }) {
    messaging.emit("opened", { messageId: "m-1", data });
    return null;
  },
  /** notifee reports a swipe (EventType.DISMISSED) on the notification it displayed with the push's data. */
  notifeeDismissed({ data }) {
    return sdk.notifeeEventHandler(client, "foreground")({
      type: sdk.NotifeeEventType.DISMISSED,
      detail: { notification: { id: "notifee-1", data }, pressAction: undefined },
    });
  },
  opened({ notificationId }) {
    return client.notificationOpened(notificationId);
  },
  inbox() {
    return client.inbox({ pageSize: 50 });
  },
  preferences({ changes }) {
    return client.setPreferences(changes);
  },
  /** NetInfo says offline / online (the lifecycle adapter's job on a phone). */
  offline() {
    client.setOnline(false);
    return null;
  },
  online() {
    client.setOnline(true);
    return null;
  },
  holdAfter({ path: p, count }) {
    let release;
    const released = new Promise((r) => (release = r));
    hold = { path: p, remaining: count, released, release };
    return null;
  },
  release() {
    const h = hold;
    hold = null;
    h?.release();
    return null;
  },
  loseNextAnswer({ path: p }) {
    loseNext.push(p);
    return null;
  },
  async idle({ timeoutMs }) {
    void client.flush();
    const idle = await client.whenIdle(timeoutMs);
    return { idle, pending: client.pending };
  },
  state() {
    return { pending: client.pending, queued: client.queued().map((i) => i.id), log, errors };
  },
  exit() {
    setImmediate(() => process.exit(0));
    return null;
  },
};

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return send({ event: "bad-request", line });
  }
  const run = commands[request.cmd];
  Promise.resolve()
    .then(() => {
      if (!run) throw new Error(`unknown command ${request.cmd}`);
      return run(request);
    })
    .then(
      (result) => send({ id: request.id, ok: true, result: result ?? null }),
      (error) => send({ id: request.id, ok: false, error: String(error && error.stack ? error.stack : error) }),
    );
});
rl.on("close", () => process.exit(0));
send({ event: "ready", sdk: path.basename(path.resolve(__dirname, "..")) });
