import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, parseRetryAfter } from "../src/index";
import { harness } from "./helpers";

test("backoff grows exponentially with jitter in [½, 1] of the step, capped", () => {
  const opts = { initialMs: 1000, maxMs: 60_000, factor: 2 };
  assert.equal(backoffDelay(0, opts, () => 0), 500);
  assert.equal(backoffDelay(0, opts, () => 0.999999), 1000);
  assert.equal(backoffDelay(3, opts, () => 0), 4000);
  assert.equal(backoffDelay(3, opts, () => 1), 8000);
  assert.equal(backoffDelay(20, opts, () => 1), 60_000);
  assert.equal(backoffDelay(20, opts, () => 0), 30_000);
  const draws = new Set(Array.from({ length: 50 }, () => backoffDelay(4, opts)));
  assert.ok(draws.size > 10, "jitter spreads the retries");
  for (const d of draws) assert.ok(d >= 8000 && d <= 16000);
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.parse("2026-11-25T10:00:00Z");
  assert.equal(parseRetryAfter("7", now), 7000);
  assert.equal(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter(null, now), undefined);
  assert.equal(parseRetryAfter("soon", now), undefined);
});

test("network errors are retried with growing, jittered delays until the server answers", async () => {
  const { client, server, clock } = harness({ backoff: { initialMs: 1000, maxMs: 60_000 } });
  await client.track("app_open");
  server.up = false;
  const first = await client.flush();
  assert.equal(first.stopped, "retrying");
  const delays: number[] = [first.retryInMs!];
  for (let i = 0; i < 4; i++) {
    await clock.advance(clock.pending()[0]!);
    delays.push(clock.pending()[0]!);
  }
  assert.deepEqual(delays, [750, 1500, 3000, 6000, 12000]); // random() = 0.5: ¾ of each step
  server.up = true;
  await clock.advance(clock.pending()[0]!);
  assert.equal(client.pending, 0);
  assert.equal(server.events.size, 1);
  assert.deepEqual(clock.pending(), [], "nothing scheduled once idle");
});

for (const status of [500, 502, 503]) {
  test(`${status} is retried`, async () => {
    const { client, server, clock, errors } = harness();
    await client.notificationOpened(42);
    server.failNext({ kind: "status", status }, "/me/feedback", 2);
    await client.flush();
    await clock.advance(60_000);
    assert.equal(server.count("/me/feedback"), 3);
    assert.equal(server.feedback.size, 1);
    assert.equal(errors.length, 0);
  });
}

test("429 waits for Retry-After before the next attempt, whatever triggers it", async () => {
  const { client, server, clock } = harness();
  await client.track("app_open");
  server.failNext({ kind: "status", status: 429, headers: { "Retry-After": "7" }, body: { error: { code: "throttled", message: "slow down" } } });
  const report = await client.flush();
  assert.equal(report.retryInMs, 7000);
  client.setAppState("active"); // coming to the foreground does not jump the queue past Retry-After
  await client.track("view", "sku-1");
  await clock.advance(6999);
  assert.equal(server.requests.length, 1);
  await clock.advance(1);
  assert.equal(server.requests.length, 2);
  assert.equal(server.requests[1]!.body.events.length, 2);
  assert.equal(client.pending, 0);
});

test("a report the server rejects is not retried: it is dropped and the app is told, the others go", async () => {
  const { client, server, clock, errors } = harness();
  await client.notificationOpened(999); // not this customer's notification: that row's not_found
  await client.notificationOpened(42);
  await client.flush();
  await clock.advance(600_000);
  assert.equal(server.count("/me/feedback"), 1);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, "rejected");
  assert.match(errors[0]!.message, /opened feedback for notification 999 rejected: not_found/);
  assert.equal(server.feedback.size, 1, "the other report still went");
  assert.equal(client.pending, 0);
});

test("a 400 on a batch drops the batch and reports it", async () => {
  const { client, server, errors } = harness();
  await client.track("app_open");
  server.failNext({ kind: "status", status: 400, body: { error: { code: "invalid", message: "events: bad", fields: { events: ["bad"] } } } });
  const report = await client.flush();
  assert.equal(report.dropped, 1);
  assert.equal(errors[0]!.code, "client_error");
  assert.equal(server.requests.length, 1);
});

test("a refused token keeps the queue, reports once, and resumes on the next trigger", async () => {
  let token = "expired";
  const { client, server, clock, errors } = harness({ getToken: () => token });
  await client.track("app_open");
  const report = await client.flush();
  assert.equal(report.stopped, "unauthenticated");
  assert.equal(server.requests.length, 2, "one retry with a fresh getToken()");
  await client.track("app_open");
  await clock.advance(600_000);
  assert.equal(server.requests.length, 2, "no automatic retries while the token is refused");
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, "unauthenticated");
  assert.equal(client.pending, 2);
  token = "tok-1"; // signed in again
  client.setAppState("active");
  await clock.advance(0);
  assert.equal(client.pending, 0);
  assert.equal(server.events.size, 2);
});

test("no token yet: nothing is sent and nothing is lost", async () => {
  let token: string | null = null;
  const { client, server, errors } = harness({ getToken: async () => token });
  await client.track("app_open");
  const report = await client.flush();
  assert.equal(report.stopped, "unauthenticated");
  assert.equal(server.requests.length, 0);
  assert.equal(errors[0]!.code, "unauthenticated");
  token = "tok-1";
  await client.flush();
  assert.equal(server.events.size, 1);
});

test("a time zone the server does not know is dropped from the registration, not the registration", async () => {
  const { client, server, errors } = harness();
  await client.registerDevice("tok", "fcm", { timezone: "GMT+2" });
  await client.flush();
  assert.deepEqual(server.devices.get("tok"), { platform: "fcm", token: "tok" });
  assert.equal(errors.length, 0);
});

test("direct calls (inbox, preferences) throw OptimusError instead of queueing", async () => {
  let token = "tok-1";
  const { client, server } = harness({ getToken: () => token });
  const page = await client.inbox({ page: 1, pageSize: 10 });
  assert.equal(page.results[0]!.id, 42);
  assert.equal(server.requests[0]!.path, "/notifications?page=1&page_size=10");
  const prefs = await client.setPreferences({ quiet_hours: { start: "22:00", end: "07:00" } });
  assert.deepEqual(prefs.quiet_hours, { start: "22:00", end: "07:00" });
  assert.equal(server.requests[1]!.method, "PATCH");
  server.up = false;
  await assert.rejects(client.inbox(), (e: any) => e.code === "network");
  server.up = true;
  token = "revoked";
  await assert.rejects(client.getPreferences(), (e: any) => e.code === "unauthenticated" && e.status === 401);
});
