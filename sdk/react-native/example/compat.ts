// Compile-time checks that the SDK's minimal interfaces accept the real libraries' types (the
// adapters never import the libraries, so this is where a breaking change in them shows up).
import notifee, { EventType, type Event } from "@notifee/react-native";
import NetInfo from "@react-native-community/netinfo";
import { getMessaging, type RemoteMessage } from "@react-native-firebase/messaging";
import DeviceInfo from "react-native-device-info";
import type {
  DeviceInfoLike,
  FirebaseMessagingLike,
  NetInfoLike,
  NetInfoModuleLike,
  NotifeeEventLike,
  NotifeeLike,
  RemoteMessageLike,
} from "optimus-react-native";
import { NotifeeEventType } from "optimus-react-native";

export const messaging: FirebaseMessagingLike = getMessaging();
export const remoteMessage = (m: RemoteMessage): RemoteMessageLike => m;
export const notifeeModule: NotifeeLike = notifee;
export const notifeeEvent = (e: Event): NotifeeEventLike => e;
export const deviceInfo: DeviceInfoLike = DeviceInfo;
export const netInfo: NetInfoLike & NetInfoModuleLike = NetInfo;

// The adapter's event numbers are notifee's own.
export const eventTypes: [EventType.DISMISSED, EventType.PRESS, EventType.ACTION_PRESS, EventType.DELIVERED] = [
  NotifeeEventType.DISMISSED,
  NotifeeEventType.PRESS,
  NotifeeEventType.ACTION_PRESS,
  NotifeeEventType.DELIVERED,
];
