import type { AppStateValue, DeviceContext, NetworkType } from "./types";

export type { DeviceContext };

/**
 * Reads the device's state when a feedback action happens: battery 0–100, charging, network
 * (wifi | cellular | none | unknown), app_state (foreground | background | killed) and os.
 * Every key is optional; a provider that throws or times out just leaves the context out.
 */
export type DeviceContextProvider = () => DeviceContext | Promise<DeviceContext>;

/** A fixed context: for tests, or for an app that does not want to read the device. */
export function staticContext(context: DeviceContext = {}): DeviceContextProvider {
  const copy = { ...context };
  return () => ({ ...copy });
}

// Keyed by the generated enums, so that a change in the server's choices fails to compile.
const NETWORK_SET: Record<NetworkType, true> = { wifi: true, cellular: true, none: true, unknown: true };
const APP_STATE_SET: Record<AppStateValue, true> = { foreground: true, background: true, killed: true };
const NETWORKS = Object.keys(NETWORK_SET) as readonly NetworkType[];
const APP_STATES = Object.keys(APP_STATE_SET) as readonly AppStateValue[];

/** React Native's AppState.currentState ('active', 'background', 'inactive', …) as the API's app_state. */
export function appStateFromReactNative(state: string | null | undefined): AppStateValue | undefined {
  if (state === "active" || state === "inactive") return "foreground";
  if (state === "background") return "background";
  return undefined;
}

/** NetInfo's `type` ('wifi', 'cellular', 'none', 'ethernet', 'vpn', …) as the API's network. */
export function networkFromNetInfo(type: string | null | undefined): NetworkType | undefined {
  if (type === undefined || type === null) return undefined;
  return (NETWORKS as readonly string[]).includes(type) ? (type as NetworkType) : "unknown";
}

/** Keeps only what the server accepts, so that a quirky provider can never get feedback rejected. */
export function sanitizeContext(context: unknown): DeviceContext {
  if (!context || typeof context !== "object") return {};
  const c = context as Record<string, unknown>;
  const out: DeviceContext = {};
  if (typeof c["battery"] === "number" && Number.isFinite(c["battery"])) {
    out.battery = Math.min(100, Math.max(0, Math.round(c["battery"])));
  }
  if (typeof c["charging"] === "boolean") out.charging = c["charging"];
  if (typeof c["network"] === "string") out.network = networkFromNetInfo(c["network"]);
  if (typeof c["app_state"] === "string" && (APP_STATES as readonly string[]).includes(c["app_state"])) {
    out.app_state = c["app_state"] as AppStateValue;
  }
  if (typeof c["os"] === "string" && c["os"] !== "") out.os = c["os"].slice(0, 100);
  return out;
}
