/**
 * Device context from react-native-device-info (battery, charging, OS), @react-native-community/netinfo
 * (network type) and React Native's AppState (app state). The app passes the modules it has; the
 * SDK imports none of them.
 *
 *   import DeviceInfo from "react-native-device-info";
 *   import NetInfo from "@react-native-community/netinfo";
 *   import { AppState } from "react-native";
 *   Optimus.init({ …, deviceContext: deviceInfoContext({ DeviceInfo, NetInfo, AppState }) });
 */
import { appStateFromReactNative, networkFromNetInfo, type DeviceContextProvider } from "../context";
import type { DeviceContext } from "../types";

/** The part of react-native-device-info's default export that is read. */
export interface DeviceInfoLike {
  getBatteryLevel(): Promise<number>;
  isBatteryCharging(): Promise<boolean>;
  getSystemName(): string;
  getSystemVersion(): string;
}

/** The part of @react-native-community/netinfo's default export that is read. */
export interface NetInfoLike {
  fetch(): Promise<{ type: string; isConnected: boolean | null }>;
}

/** The part of React Native's AppState that is read. */
export interface AppStateLike {
  currentState: string | null;
}

async function settle<T>(read: () => Promise<T> | T): Promise<T | undefined> {
  try {
    return await read();
  } catch {
    return undefined;
  }
}

export function deviceInfoContext(modules: {
  DeviceInfo: DeviceInfoLike;
  NetInfo?: NetInfoLike;
  AppState?: AppStateLike;
}): DeviceContextProvider {
  const { DeviceInfo, NetInfo, AppState } = modules;
  return async () => {
    const [level, charging, net, name, version] = await Promise.all([
      settle(() => DeviceInfo.getBatteryLevel()),
      settle(() => DeviceInfo.isBatteryCharging()),
      NetInfo ? settle(() => NetInfo.fetch()) : Promise.resolve(undefined),
      settle(() => DeviceInfo.getSystemName()),
      settle(() => DeviceInfo.getSystemVersion()),
    ]);
    const context: DeviceContext = {};
    // getBatteryLevel answers 0..1, or -1 where it cannot tell (simulators).
    if (typeof level === "number" && level >= 0 && level <= 1) context.battery = Math.round(level * 100);
    if (typeof charging === "boolean") context.charging = charging;
    const network = net ? (net.isConnected === false ? "none" : networkFromNetInfo(net.type)) : undefined;
    if (network) context.network = network;
    const appState = AppState ? appStateFromReactNative(AppState.currentState) : undefined;
    if (appState) context.app_state = appState;
    const os = [name, version].filter((part) => typeof part === "string" && part !== "").join(" ");
    if (os) context.os = os;
    return context;
  };
}
