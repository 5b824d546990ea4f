/**
 * The adapters, fed with the events @react-native-firebase/messaging, @notifee/react-native,
 * React Native's AppState and NetInfo emit (shapes as in their type definitions).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  NotifeeEventType,
  attachFirebaseMessaging,
  attachLifecycle,
  attachNotifee,
  deviceInfoContext,
  firebaseBackgroundHandler,
  notifeeEventHandler,
  staticContext,
  type FirebaseMessagingLike,
  type NotifeeEventLike,
  type NotifeeLike,
  type RemoteMessageLike,
} from "../src/index";
import { harness, settle } from "./helpers";

const CONTEXT = staticContext({ battery: 81, charging: true, network: "wifi", app_state: "foreground", os: "Android 15" });

/** An FCM data message as @react-native-firebase/messaging delivers it (data values are strings). */
function remoteMessage(id: string, extra: Record<string, string> = {}): RemoteMessageLike & Record<string, unknown> {
  return {
    messageId: `0:1700000000000%${id}`,
    from: "1234567890",
    collapseKey: `n${id}`,
    sentTime: 1764064800000,
    ttl: 2419200,
    data: { notification_id: id, type: "product-recommendation", item_ids: '["sku-1","sku-2"]', link: "shop://item/sku-1", ...extra },
    notification: { title: "Picked for you", body: "Something you will like" },
  };
}

class FakeMessaging implements FirebaseMessagingLike {
  token = "fcm-token-1";
  initial: RemoteMessageLike | null = null;
  listeners: Record<string, ((arg: any) => any)[]> = { token: [], message: [], opened: [] };
  getToken = async () => this.token;
  getInitialNotification = async () => this.initial;
  onTokenRefresh(listener: (token: string) => any) {
    return this.add("token", listener);
  }
  onMessage(listener: (m: RemoteMessageLike) => any) {
    return this.add("message", listener);
  }
  onNotificationOpenedApp(listener: (m: RemoteMessageLike) => any) {
    return this.add("opened", listener);
  }
  emit(kind: string, arg: unknown) {
    for (const l of this.listeners[kind]!) l(arg);
  }
  private add(kind: string, listener: (arg: any) => any) {
    this.listeners[kind]!.push(listener);
    return () => {
      this.listeners[kind] = this.listeners[kind]!.filter((l) => l !== listener);
    };
  }
}

function feedbackOf(client: { queued(): readonly any[] }) {
  return client
    .queued()
    .filter((i) => i.kind === "feedback")
    .map((i) => [i.notificationId, i.feedback.action, i.feedback.context?.app_state]);
}

test("firebase: token at start and on refresh, foreground message, opened from background and from quit", async () => {
  const { client, server } = harness({ deviceContext: CONTEXT, timezone: "Europe/Berlin" });
  const messaging = new FakeMessaging();
  messaging.initial = remoteMessage("3");
  const opened: number[] = [];
  const detach = attachFirebaseMessaging(client, messaging, { onOpen: (push) => opened.push(push.notificationId) });
  await settle();
  assert.deepEqual(client.queued()[0], {
    kind: "device",
    id: "device",
    queuedAt: client.queued()[0]!.queuedAt,
    device: { platform: "fcm", token: "fcm-token-1", timezone: "Europe/Berlin" },
  });
  assert.deepEqual(feedbackOf(client), [
    [3, "delivered", "killed"],
    [3, "opened", "killed"],
  ]);

  messaging.emit("message", remoteMessage("1"));
  messaging.emit("opened", remoteMessage("2"));
  messaging.emit("token", "fcm-token-2");
  messaging.emit("message", { messageId: "x", data: { promo: "not ours" } });
  await settle();
  assert.deepEqual(feedbackOf(client), [
    [3, "delivered", "killed"],
    [3, "opened", "killed"],
    [1, "delivered", "foreground"],
    [2, "delivered", "background"],
    [2, "opened", "background"],
  ]);
  assert.deepEqual(opened, [3, 2]);
  const fb = client.queued().find((i) => i.kind === "feedback")!;
  assert.deepEqual((fb as any).feedback.context, { battery: 81, charging: true, network: "wifi", app_state: "killed", os: "Android 15" });

  await client.flush();
  assert.equal(server.devices.size, 1);
  assert.ok(server.devices.has("fcm-token-2"), "the refreshed token replaced the first one still queued");
  assert.equal(server.feedback.size, 5);

  detach();
  messaging.emit("message", remoteMessage("42"));
  await settle();
  assert.equal(client.pending, 0, "nothing after detach");
});

test("firebase background handler reports delivered and waits for the queue", async () => {
  const { client, server } = harness({ flushDelayMs: 0 });
  const handler = firebaseBackgroundHandler(() => client, { sendWithinMs: 1000 });
  await handler(remoteMessage("42"));
  assert.deepEqual([...server.feedback.entries()].map(([k, v]) => [k, v.context?.app_state]), [["42:delivered", "background"]]);
  await handler({ data: {} });
  assert.equal(server.requests.length, 1);
});

function notifeeEvent(type: number, id?: string): NotifeeEventLike {
  return {
    type,
    detail: {
      notification: {
        id: "notifee-abc",
        title: "Picked for you",
        body: "Something you will like",
        data: id === undefined ? { other: "x" } : { notification_id: id, type: "sale-promotions", item_ids: "[]", link: "" },
        android: { channelId: "default" },
      } as NotifeeEventLike["detail"]["notification"],
      pressAction: { id: "default" },
    },
  };
}

test("notifee: press → opened, action press → opened, dismiss → dismissed, delivered → delivered", async () => {
  const { client } = harness({ deviceContext: CONTEXT });
  const opened: string[] = [];
  const handle = notifeeEventHandler(client, "background", { onOpen: (push) => opened.push(push.type ?? "") });
  await handle(notifeeEvent(NotifeeEventType.DELIVERED, "7"));
  await handle(notifeeEvent(NotifeeEventType.PRESS, "7"));
  await handle(notifeeEvent(NotifeeEventType.DISMISSED, "8"));
  await handle(notifeeEvent(NotifeeEventType.ACTION_PRESS, "9"));
  await handle(notifeeEvent(NotifeeEventType.DISMISSED)); // not an Optimus notification
  await handle(notifeeEvent(5 /* CHANNEL_BLOCKED */, "10"));
  assert.deepEqual(feedbackOf(client), [
    [7, "delivered", "background"],
    [7, "opened", "background"],
    [8, "dismissed", "background"],
    [9, "opened", "background"],
  ]);
  assert.deepEqual(opened, ["sale-promotions", "sale-promotions"]);
});

test("notifee: foreground events and the notification that launched the app", async () => {
  const { client } = harness();
  let observer: ((e: NotifeeEventLike) => void) | null = null;
  const notifee: NotifeeLike = {
    onForegroundEvent(o) {
      observer = o;
      return () => {
        observer = null;
      };
    },
    getInitialNotification: async () => ({ notification: { id: "n", data: { notification_id: "11" } }, pressAction: { id: "default" } }),
  };
  const detach = attachNotifee(client, notifee);
  await settle();
  observer!(notifeeEvent(NotifeeEventType.DISMISSED, "12"));
  await settle();
  assert.deepEqual(feedbackOf(client), [
    [11, "opened", "killed"],
    [12, "dismissed", "foreground"],
  ]);
  detach();
  assert.equal(observer, null);
});

test("lifecycle: foreground tracks app_open and flushes; NetInfo drives online / offline", async () => {
  const { client, server, clock } = harness();
  let appListener: ((s: string) => void) | null = null;
  let netListener: ((s: { isConnected: boolean | null; type: string }) => void) | null = null;
  const AppState = {
    currentState: "active",
    addEventListener: (_type: "change", l: (s: string) => void) => {
      appListener = l;
      return { remove: () => (appListener = null) };
    },
  };
  const NetInfo = {
    addEventListener: (l: (s: { isConnected: boolean | null; type: string }) => void) => {
      netListener = l;
      return () => (netListener = null);
    },
  };
  const detach = attachLifecycle(client, { AppState, NetInfo });
  await settle();
  assert.equal(client.pending, 1, "app_open for the launch");
  netListener!({ isConnected: false, type: "none" });
  appListener!("background");
  appListener!("active");
  await clock.advance(60_000);
  assert.equal(server.requests.length, 0, "offline: nothing attempted");
  assert.equal(client.pending, 2);
  netListener!({ isConnected: true, type: "wifi" });
  await clock.advance(0);
  assert.equal(server.events.size, 2);
  assert.deepEqual([...server.events.values()].map((e) => e.type), ["app_open", "app_open"]);
  detach();
  assert.equal(appListener, null);
  assert.equal(netListener, null);
});

test("device-info context: battery in percent, charging, network, app state and OS", async () => {
  const DeviceInfo = {
    getBatteryLevel: async () => 0.374,
    isBatteryCharging: async () => false,
    getSystemName: () => "iOS",
    getSystemVersion: () => "18.1",
  };
  const read = (net: { type: string; isConnected: boolean | null }, state: string | null, level = 0.374) =>
    deviceInfoContext({
      DeviceInfo: { ...DeviceInfo, getBatteryLevel: async () => level },
      NetInfo: { fetch: async () => net },
      AppState: { currentState: state },
    })();
  assert.deepEqual(await read({ type: "cellular", isConnected: true }, "active"), {
    battery: 37,
    charging: false,
    network: "cellular",
    app_state: "foreground",
    os: "iOS 18.1",
  });
  assert.equal((await read({ type: "ethernet", isConnected: true }, "background")).network, "unknown");
  assert.equal((await read({ type: "wifi", isConnected: false }, "background")).network, "none");
  assert.equal((await read({ type: "wifi", isConnected: true }, "background")).app_state, "background");
  assert.equal((await read({ type: "wifi", isConnected: true }, "active", -1)).battery, undefined, "simulators answer -1");
  const failing = deviceInfoContext({
    DeviceInfo: { ...DeviceInfo, getBatteryLevel: () => Promise.reject(new Error("no")), getSystemName: () => { throw new Error("no"); } },
  });
  assert.deepEqual(await failing(), { charging: false, os: "18.1" });
});

test("a slow or failing context provider never blocks feedback", async () => {
  const { client, clock } = harness({ deviceContext: () => new Promise(() => undefined), contextTimeoutMs: 500 });
  const queued = client.notificationOpened(42);
  await clock.advance(500);
  await queued;
  assert.equal((client.queued()[0] as any).feedback.context, undefined);
  const other = harness({ deviceContext: () => { throw new Error("boom"); } });
  await other.client.notificationOpened(42);
  assert.equal((other.client.queued()[0] as any).feedback.context, undefined);
});
