/**
 * optimus-react-native: the phone's side of Optimus. See README.md in this package and the
 * "Mobile SDK" section of the repository's README.
 */
import { OptimusClient, type FeedbackOptions, type FlushReport, type OptimusConfig, type RegisterOptions } from "./client";
import type { EventType, InboxPage, Platform, Preferences, PreferencesPatch } from "./types";

export { OptimusClient, MAX_BATCH, EVENT_TYPES, PLATFORMS } from "./client";
export type { OptimusConfig, FeedbackOptions, RegisterOptions, FlushReport } from "./client";
export { OptimusError, type OptimusErrorCode } from "./errors";
export { MemoryStorage, asyncStorage, type QueueStorage, type AsyncStorageLike } from "./storage";
export type { QueueItem, EventItem, FeedbackItem, DeviceItem } from "./queue";
export { staticContext, sanitizeContext, appStateFromReactNative, networkFromNetInfo, type DeviceContextProvider } from "./context";
export { backoffDelay, parseRetryAfter, type BackoffOptions } from "./backoff";
export { parsePushData, type OptimusPush, type PushData } from "./payload";
export { uuidv4, type FetchLike, type ResponseLike, type RequestInitLike, type Timers } from "./env";
export { deviceInfoContext, type DeviceInfoLike, type NetInfoLike, type AppStateLike } from "./adapters/device-info";
export {
  attachFirebaseMessaging,
  firebaseBackgroundHandler,
  type FirebaseMessagingLike,
  type RemoteMessageLike,
  type FirebaseAdapterOptions,
} from "./adapters/firebase";
export {
  attachNotifee,
  notifeeEventHandler,
  NotifeeEventType,
  type NotifeeLike,
  type NotifeeEventLike,
  type NotifeeNotificationLike,
  type NotifeeAdapterOptions,
} from "./adapters/notifee";
export { attachLifecycle, type AppStateModuleLike, type NetInfoModuleLike } from "./adapters/lifecycle";
export type * from "./types";

let current: OptimusClient | null = null;

function client(): OptimusClient {
  if (!current) throw new Error("optimus-react-native: call Optimus.init({ baseUrl, getToken }) first");
  return current;
}

/**
 * The app-wide client. `Optimus.init` once at start-up (index.js, so that headless background
 * handlers have it too); every other call goes to that client.
 */
export const Optimus = {
  init(config: OptimusConfig): OptimusClient {
    current?.dispose();
    current = new OptimusClient(config);
    return current;
  },
  /** The client made by init (throws before init). */
  get client(): OptimusClient {
    return client();
  },
  get initialized(): boolean {
    return current !== null;
  },
  registerDevice(pushToken: string, platform: Platform, options?: RegisterOptions): Promise<void> {
    return client().registerDevice(pushToken, platform, options);
  },
  track(type: EventType, itemId?: string | null, amount?: number | null): Promise<string> {
    return client().track(type, itemId, amount);
  },
  notificationReceived(notificationId: number | string, options?: FeedbackOptions): Promise<void> {
    return client().notificationReceived(notificationId, options);
  },
  notificationOpened(notificationId: number | string, options?: FeedbackOptions): Promise<void> {
    return client().notificationOpened(notificationId, options);
  },
  notificationDismissed(notificationId: number | string, options?: FeedbackOptions): Promise<void> {
    return client().notificationDismissed(notificationId, options);
  },
  setPreferences(changes: PreferencesPatch): Promise<Preferences> {
    return client().setPreferences(changes);
  },
  getPreferences(): Promise<Preferences> {
    return client().getPreferences();
  },
  inbox(options?: { page?: number; pageSize?: number }): Promise<InboxPage> {
    return client().inbox(options);
  },
  flush(): Promise<FlushReport> {
    return client().flush();
  },
};

export default Optimus;
