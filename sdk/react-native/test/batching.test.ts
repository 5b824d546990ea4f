import assert from "node:assert/strict";
import { test } from "node:test";
import { harness } from "./helpers";

test("events go in batches of at most 500, oldest first, devices before events, feedback after", async () => {
  const { client, server, clock } = harness();
  await client.notificationReceived(42);
  const ids: string[] = [];
  for (let i = 0; i < 1234; i++) ids.push(await client.track("view", "sku-1"));
  await client.registerDevice("tok", "fcm", { timezone: "Europe/Paris" });
  await clock.advance(0);
  const paths = server.requests.map((r) => r.path);
  assert.deepEqual(paths, ["/devices", "/events", "/events", "/events", "/me/feedback"]);
  const sizes = server.requests.filter((r) => r.path === "/events").map((r) => r.body.events.length);
  assert.deepEqual(sizes, [500, 500, 234]);
  const sent = server.requests.filter((r) => r.path === "/events").flatMap((r) => r.body.events.map((e: any) => e.event_id));
  assert.deepEqual(sent, ids);
  assert.equal(server.events.size, 1234);
  assert.equal(client.pending, 0);
});

test("events queued together within flushDelayMs travel in one request", async () => {
  const { client, server, clock } = harness({ flushDelayMs: 1000 });
  await client.track("app_open");
  await clock.advance(400);
  await client.track("view", "sku-1");
  await client.track("addtocart", "sku-1");
  await clock.advance(600);
  assert.equal(server.count("/events"), 1);
  assert.equal(server.requests[0]!.body.events.length, 3);
});

test("a smaller batchSize is honoured", async () => {
  const { client, server } = harness({ batchSize: 2 });
  for (let i = 0; i < 5; i++) await client.track("app_open");
  await client.flush();
  assert.deepEqual(
    server.requests.map((r) => r.body.events.length),
    [2, 2, 1],
  );
});

test("rows the server rejects are dropped and reported one by one; the rest count as sent", async () => {
  const { client, server, errors } = harness();
  await client.track("view", "sku-1");
  const bad = await client.track("view", "no-such-item");
  await client.track("transaction", "sku-2", 12.5);
  const report = await client.flush();
  assert.deepEqual({ sent: report.sent, dropped: report.dropped, remaining: report.remaining }, { sent: 2, dropped: 1, remaining: 0 });
  assert.equal(server.count("/events"), 1, "no retry for a rejected row");
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, "rejected");
  assert.match(errors[0]!.message, /unknown item_id/);
  assert.equal((errors[0]!.items[0] as { id: string }).id, bad);
});

test("a 413 halves the batch until it fits", async () => {
  const { client, server } = harness();
  for (let i = 0; i < 8; i++) await client.track("app_open");
  server.failNext({ kind: "status", status: 413, body: { error: { code: "too_large", message: "too large" } } }, "/events");
  server.failNext({ kind: "status", status: 413, body: { error: { code: "too_large", message: "too large" } } }, "/events");
  await client.flush();
  assert.deepEqual(
    server.requests.map((r) => r.body.events.length),
    [8, 4, 2, 2, 2, 2],
  );
  assert.equal(server.events.size, 8);
});

test("a repeated event id is harmless: a lost answer is retried, stored once, reported as a duplicate", async () => {
  const { client, server, clock } = harness();
  const id = await client.track("app_open");
  server.failNext({ kind: "lost-answer" }, "/events");
  const first = await client.flush();
  assert.equal(first.stopped, "retrying");
  assert.equal(server.events.size, 1, "stored, but the phone never heard back");
  assert.equal(client.pending, 1);
  await clock.advance(first.retryInMs!);
  assert.equal(client.pending, 0);
  const [, retry] = server.requests;
  assert.equal(retry!.body.events[0].event_id, id, "the same id is sent again");
  assert.equal(server.events.size, 1);
});

test("feedback queued offline goes in one batch, and a report the server does not know is dropped with an error", async () => {
  const { client, server, errors } = harness();
  client.setOnline(false);
  await client.notificationReceived(42);
  await client.notificationOpened(42);
  await client.notificationReceived(99); // not a notification of this customer
  client.setOnline(true);
  await client.flush();
  const calls = server.requests.filter((r) => r.path === "/me/feedback");
  assert.equal(calls.length, 1);
  assert.deepEqual(
    calls[0]!.body.feedback.map((f: any) => [f.notification_id, f.action]),
    [[42, "delivered"], [42, "opened"], [99, "delivered"]],
  );
  assert.deepEqual([...server.feedback.keys()].sort(), ["42:delivered", "42:opened"]);
  assert.equal(client.pending, 0);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /delivered feedback for notification 99 rejected: not_found/);
});
