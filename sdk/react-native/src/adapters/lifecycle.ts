/**
 * React Native's AppState and @react-native-community/netinfo → the queue: coming to the
 * foreground or back online sends what waited, and (by default) each foreground records an
 * `app_open` event — the strongest signal for when this person reads their phone.
 *
 *   import { AppState } from "react-native";
 *   import NetInfo from "@react-native-community/netinfo";
 *   const detach = attachLifecycle(Optimus.client, { AppState, NetInfo });
 */
import type { OptimusClient } from "../client";

export interface AppStateModuleLike {
  currentState: string | null;
  addEventListener(type: "change", listener: (state: string) => void): { remove(): void };
}

export interface NetInfoModuleLike {
  addEventListener(listener: (state: { isConnected: boolean | null; type: string }) => void): () => void;
}

export function attachLifecycle(
  client: OptimusClient,
  modules: { AppState?: AppStateModuleLike; NetInfo?: NetInfoModuleLike },
  options: { trackAppOpen?: boolean } = {},
): () => void {
  const trackAppOpen = options.trackAppOpen !== false;
  const cleanups: (() => void)[] = [];
  const { AppState, NetInfo } = modules;
  if (AppState) {
    let last = AppState.currentState;
    if (trackAppOpen && last === "active") void client.track("app_open").catch(() => undefined);
    const subscription = AppState.addEventListener("change", (state) => {
      const cameForward = state === "active" && last !== "active";
      last = state;
      client.setAppState(state);
      if (cameForward && trackAppOpen) void client.track("app_open").catch(() => undefined);
    });
    cleanups.push(() => subscription.remove());
  }
  if (NetInfo) {
    // isConnected is null while unknown: only a definite false counts as offline.
    cleanups.push(NetInfo.addEventListener((state) => client.setOnline(state.isConnected !== false)));
  }
  return () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
}
