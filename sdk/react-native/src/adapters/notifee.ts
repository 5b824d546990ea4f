/**
 * @notifee/react-native → Optimus: a press on a notification is `opened`, a swipe is `dismissed`,
 * a display is `delivered`, with `notification_id` read from the notification's `data` (give
 * notifee the FCM message's data when you display it). The app passes its notifee instance; the
 * SDK never imports the library.
 *
 *   import notifee from "@notifee/react-native";
 *   notifee.onBackgroundEvent(notifeeEventHandler(() => Optimus.client, "background")); // index.js
 *   const detach = attachNotifee(Optimus.client, notifee);                              // in the app
 */
import type { OptimusClient } from "../client";
import type { OptimusPush } from "../payload";
import type { AppStateValue } from "../types";

/** notifee's `EventType` values (stable numbers in its public enum). */
export const NotifeeEventType = {
  UNKNOWN: -1,
  DISMISSED: 0,
  PRESS: 1,
  ACTION_PRESS: 2,
  DELIVERED: 3,
} as const;

/** The part of notifee's `Notification` that is read. */
export interface NotifeeNotificationLike {
  id?: string;
  data?: { [key: string]: string | object | number };
}

/** The part of notifee's `Event` that is read. */
export interface NotifeeEventLike {
  type: number;
  detail: { notification?: NotifeeNotificationLike; pressAction?: { id: string } };
}

/** The part of notifee's default export that is used. */
export interface NotifeeLike {
  onForegroundEvent(observer: (event: NotifeeEventLike) => void): () => void;
  getInitialNotification(): Promise<{ notification: NotifeeNotificationLike; pressAction: { id: string } } | null>;
}

export interface NotifeeAdapterOptions {
  /** Called for every Optimus notification the person pressed (or pressed an action of). */
  onOpen?: (push: OptimusPush, event: NotifeeEventLike) => void;
}

/** Maps one notifee event to feedback; resolves once it is queued. */
export function notifeeEventHandler(
  client: OptimusClient | (() => OptimusClient),
  appState: AppStateValue,
  options: NotifeeAdapterOptions = {},
): (event: NotifeeEventLike) => Promise<void> {
  return async (event) => {
    const c = typeof client === "function" ? client() : client;
    const data = event.detail.notification?.data;
    switch (event.type) {
      case NotifeeEventType.DELIVERED:
        await c.handlePush(data, "delivered", { appState });
        break;
      case NotifeeEventType.DISMISSED:
        await c.handlePush(data, "dismissed", { appState });
        break;
      case NotifeeEventType.PRESS:
      case NotifeeEventType.ACTION_PRESS: {
        const push = await c.handlePush(data, "opened", { appState });
        if (push) options.onOpen?.(push, event);
        break;
      }
      default:
        break;
    }
  };
}

/** Foreground events and the notification that launched the app; returns the unsubscribe. */
export function attachNotifee(client: OptimusClient, notifee: NotifeeLike, options: NotifeeAdapterOptions = {}): () => void {
  const foreground = notifeeEventHandler(client, "foreground", options);
  const unsubscribe = notifee.onForegroundEvent((event) => {
    void foreground(event).catch(() => undefined);
  });
  const launched = notifeeEventHandler(client, "killed", options);
  notifee
    .getInitialNotification()
    .then((initial) =>
      initial
        ? launched({ type: NotifeeEventType.PRESS, detail: { notification: initial.notification, pressAction: initial.pressAction } })
        : undefined,
    )
    .catch(() => undefined);
  return unsubscribe;
}
