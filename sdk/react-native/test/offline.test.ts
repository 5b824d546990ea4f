import assert from "node:assert/strict";
import { test } from "node:test";
import type { FetchLike } from "../src/index";
import { FakeClock, FakeServer, harness } from "./helpers";

test("offline: nothing is attempted; back online: everything is sent exactly once", async () => {
  const { client, server, clock } = harness();
  client.setOnline(false);
  for (let i = 0; i < 700; i++) await client.track("view", "sku-1");
  await client.notificationReceived(42);
  await client.notificationOpened(42);
  await clock.advance(3_600_000);
  assert.equal(server.requests.length, 0);
  assert.equal((await client.flush()).stopped, "offline");
  assert.equal(client.pending, 702);

  client.setOnline(true);
  await clock.advance(0);
  assert.equal(client.pending, 0);
  assert.equal(server.events.size, 700);
  assert.deepEqual([...server.feedback.keys()].sort(), ["42:delivered", "42:opened"]);
  assert.equal(server.count("/events"), 2);
  assert.equal(server.count("/me/feedback"), 1, "both reports in one batch");
});

test("the connection drops in the middle of the queue: nothing lost, nothing stored twice", async () => {
  const clock = new FakeClock();
  const server = new FakeServer();
  let calls = 0;
  const flaky: FetchLike = async (url, init) => {
    calls++;
    if (calls === 2) {
      // The second batch reaches the server and is stored; then the network goes away before the answer.
      await server.fetch(url, init);
      server.up = false;
      throw new TypeError("Network request failed");
    }
    return server.fetch(url, init);
  };
  const { client } = harness({ fetch: flaky }, { server, clock });
  for (let i = 0; i < 1200; i++) await client.track("view", "sku-1");
  await client.notificationDismissed(42);
  const report = await client.flush();
  assert.equal(report.stopped, "retrying");
  assert.equal(server.events.size, 1000);
  assert.equal(client.pending, 701, "the unanswered batch stays queued whole");
  await clock.advance(10_000);
  server.up = true;
  await clock.advance(60_000);
  assert.equal(client.pending, 0);
  assert.equal(server.events.size, 1200, "every event stored, none twice");
  assert.equal(server.feedback.size, 1);
});

test("coming to the foreground sends what waited and resets the backoff", async () => {
  const { client, server, clock } = harness();
  await client.track("app_open");
  server.up = false;
  await client.flush();
  for (let i = 0; i < 6; i++) await clock.advance(clock.pending()[0]!);
  assert.ok(clock.pending()[0]! >= 32_000, "backing off by now");
  server.up = true;
  client.setAppState("active");
  await clock.advance(0);
  assert.equal(client.pending, 0);
});

test("whenIdle resolves once everything is answered, or false at its time-out", async () => {
  const { client, server, clock } = harness();
  server.up = false;
  await client.track("app_open");
  const idle = client.whenIdle(5000);
  await clock.advance(5000);
  assert.equal(await idle, false);
  server.up = true;
  const later = client.whenIdle();
  await clock.advance(120_000);
  assert.equal(await later, true);
});
