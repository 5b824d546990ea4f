/**
 * @react-native-firebase/messaging → Optimus. The app passes its `messaging()` instance; the SDK
 * never imports the library, so apps without Firebase pay nothing for this file.
 *
 *   import messaging from "@react-native-firebase/messaging";
 *   // index.js, outside any component (Android runs it headless when a data push arrives):
 *   messaging().setBackgroundMessageHandler(firebaseBackgroundHandler(() => Optimus.client));
 *   // once the app starts:
 *   const detach = attachFirebaseMessaging(Optimus.client, messaging());
 *
 * Mapping: the FCM token (at start and on refresh) → registerDevice(token, "fcm"); a push in the
 * foreground (onMessage) or in the background handler → delivered; opened from the background
 * (onNotificationOpenedApp) → opened, app_state "background"; opened from a quit app
 * (getInitialNotification) → opened, app_state "killed". An open also reports `delivered`
 * (the server keeps the first report), because a notification the system displayed while the app
 * was not running never reached JavaScript on arrival.
 */
import type { OptimusClient } from "../client";
import type { OptimusPush } from "../payload";

/** The part of `RemoteMessage` that is read. */
export interface RemoteMessageLike {
  messageId?: string;
  data?: { [key: string]: string | object };
}

/** The part of `FirebaseMessagingTypes.Module` (what `messaging()` returns) that is used. */
export interface FirebaseMessagingLike {
  getToken(): Promise<string>;
  onTokenRefresh(listener: (token: string) => any): () => void;
  onMessage(listener: (message: RemoteMessageLike) => any): () => void;
  onNotificationOpenedApp(listener: (message: RemoteMessageLike) => any): () => void;
  getInitialNotification(): Promise<RemoteMessageLike | null>;
}

export interface FirebaseAdapterOptions {
  /** Register the FCM token with Optimus (default true). */
  registerToken?: boolean;
  /** Report `delivered` along with `opened` (default true; see above). */
  deliveredOnOpen?: boolean;
  /** Called for every Optimus push the person opened: navigate to `push.link` here. */
  onOpen?: (push: OptimusPush, message: RemoteMessageLike) => void;
  /** Called for every Optimus push received in the foreground (e.g. to display it with notifee). */
  onForegroundMessage?: (push: OptimusPush, message: RemoteMessageLike) => void;
}

function noop(): void {}

/** Wires the listeners; returns a function that removes them. Errors go to the client's onError. */
export function attachFirebaseMessaging(
  client: OptimusClient,
  messaging: FirebaseMessagingLike,
  options: FirebaseAdapterOptions = {},
): () => void {
  const register = options.registerToken !== false;
  const deliveredOnOpen = options.deliveredOnOpen !== false;
  const unsubscribers: (() => void)[] = [];
  let active = true;

  const opened = async (message: RemoteMessageLike | null, appState: "background" | "killed") => {
    if (!message || !active) return;
    if (deliveredOnOpen) await client.handlePush(message.data, "delivered", { appState });
    const push = await client.handlePush(message.data, "opened", { appState });
    if (push) options.onOpen?.(push, message);
  };

  if (register) {
    unsubscribers.push(messaging.onTokenRefresh((token) => client.registerDevice(token, "fcm").catch(noop)));
    messaging
      .getToken()
      .then((token) => (active && token ? client.registerDevice(token, "fcm") : undefined))
      .catch(noop);
  }
  unsubscribers.push(
    messaging.onMessage(async (message) => {
      const push = await client.handlePush(message.data, "delivered", { appState: "foreground" }).catch(() => null);
      if (push) options.onForegroundMessage?.(push, message);
    }),
  );
  unsubscribers.push(messaging.onNotificationOpenedApp((message) => opened(message, "background").catch(noop)));
  messaging
    .getInitialNotification()
    .then((message) => opened(message, "killed"))
    .catch(noop);

  return () => {
    active = false;
    for (const unsubscribe of unsubscribers.splice(0)) unsubscribe();
  };
}

/**
 * For `messaging().setBackgroundMessageHandler(...)`: reports `delivered` (app_state
 * "background") and gives the queue a few seconds to send it before the headless task ends.
 * Takes the client lazily, because index.js registers the handler before the app calls init.
 */
export function firebaseBackgroundHandler(
  client: OptimusClient | (() => OptimusClient),
  options: { sendWithinMs?: number } = {},
): (message: RemoteMessageLike) => Promise<void> {
  return async (message) => {
    const c = typeof client === "function" ? client() : client;
    const push = await c.handlePush(message.data, "delivered", { appState: "background" });
    if (push) {
      void c.flush().catch(noop);
      await c.whenIdle(options.sendWithinMs ?? 5000);
    }
  };
}
