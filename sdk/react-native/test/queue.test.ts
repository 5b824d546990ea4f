import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStorage, OptimusClient, asyncStorage } from "../src/index";
import { FakeClock, FakeServer, harness, settle } from "./helpers";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("events are stored before anything is sent, with UUID v4 ids and ISO times", async () => {
  const { client, storage, server } = harness();
  const id = await client.track("view", "sku-1");
  assert.match(id, UUID_V4);
  assert.equal(server.requests.length, 0, "nothing sent yet: the queue waits to batch");
  const stored = JSON.parse((await storage.getItem("optimus:queue:v1")) as string);
  assert.equal(stored.items.length, 1);
  assert.deepEqual(stored.items[0].event, { event_id: id, type: "view", item_id: "sku-1", at: "2026-11-25T10:00:00.000Z" });
});

test("the queue survives a restart of the app and is sent by the next run", async () => {
  const storage = new MemoryStorage();
  const clock = new FakeClock();
  const server = new FakeServer();
  server.up = false;
  const first = harness({}, { storage, clock, server });
  await first.client.track("app_open");
  await first.client.track("transaction", "sku-2", 19.9);
  await first.client.notificationOpened(42);
  await clock.advance(1500);
  assert.equal(first.client.pending, 3);
  first.client.dispose(); // the app is killed

  server.up = true;
  const second = harness({}, { storage, clock, server });
  await second.client.ready;
  assert.equal(second.client.pending, 3);
  await clock.advance(10);
  assert.equal(second.client.pending, 0);
  assert.equal(server.events.size, 2);
  assert.deepEqual([...server.feedback.keys()], ["42:opened"]);
  assert.equal(JSON.parse((await storage.getItem("optimus:queue:v1")) as string).items.length, 0);
});

test("a feedback action already queued is not queued twice", async () => {
  const { client } = harness();
  await client.notificationOpened(42);
  await client.notificationOpened("42");
  await client.notificationDismissed(42);
  assert.deepEqual(
    client.queued().map((i) => i.id),
    ["feedback:42:opened", "feedback:42:dismissed"],
  );
});

test("a newer device registration replaces one still waiting", async () => {
  const { client, server, clock } = harness({ timezone: "Europe/Berlin", appVersion: "3.2.0" });
  server.up = false;
  await client.registerDevice("old-token", "fcm");
  await client.registerDevice("new-token", "fcm");
  assert.equal(client.queued().filter((i) => i.kind === "device").length, 1);
  server.up = true;
  await client.flush();
  await clock.advance(0);
  assert.deepEqual([...server.devices.values()], [{ platform: "fcm", token: "new-token", app_version: "3.2.0", timezone: "Europe/Berlin" }]);
});

test("over maxQueueSize the oldest events are dropped and reported, feedback is kept", async () => {
  const { client, errors } = harness({ maxQueueSize: 3 });
  await client.notificationOpened(42);
  const a = await client.track("app_open");
  await client.track("app_open");
  await client.track("app_open");
  assert.equal(client.pending, 3);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, "queue_full");
  assert.equal((errors[0]!.items[0] as { id: string }).id, a);
  assert.ok(client.queued().some((i) => i.kind === "feedback"));
});

test("an unreadable stored queue is reported and the SDK starts empty", async () => {
  const storage = new MemoryStorage();
  await storage.setItem("optimus:queue:v1", "{not json");
  const { client, errors } = harness({}, { storage });
  await client.ready;
  assert.equal(client.pending, 0);
  assert.equal(errors[0]?.code, "storage");
  await client.track("app_open");
  assert.equal(client.pending, 1);
});

test("the AsyncStorage adapter passes through to the app's AsyncStorage", async () => {
  const calls: string[] = [];
  const backing = new Map<string, string>();
  const fakeAsyncStorage = {
    getItem: async (k: string) => (calls.push(`get ${k}`), backing.get(k) ?? null),
    setItem: async (k: string, v: string) => void (calls.push(`set ${k}`), backing.set(k, v)),
    removeItem: async (k: string) => void (calls.push(`remove ${k}`), backing.delete(k)),
  };
  const server = new FakeServer();
  const client = new OptimusClient({
    baseUrl: "https://optimus.test/api/v1/",
    getToken: async () => "tok-1",
    fetch: server.fetch,
    storage: asyncStorage(fakeAsyncStorage),
    storageKey: "app:optimus",
    timers: new FakeClock(),
  });
  await client.track("app_open");
  await settle();
  assert.deepEqual(calls, ["get app:optimus", "set app:optimus"]);
  assert.equal(JSON.parse(backing.get("app:optimus")!).items.length, 1);
});

test("track checks its arguments before queueing anything", async () => {
  const { client } = harness();
  await assert.rejects(client.track("app_open", "sku-1"), /app_open event has no item/);
  await assert.rejects(client.track("view"), /needs an item id/);
  await assert.rejects(client.track("purchase" as never, "sku-1"), /type must be one of/);
  await assert.rejects(client.track("transaction", "sku-1", Number.NaN), /finite number/);
  await assert.rejects(client.notificationOpened("abc"), /bad notification id/);
  assert.equal(client.pending, 0);
});
