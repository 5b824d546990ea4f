/**
 * Local type stubs for the parts of react-native (and AsyncStorage) the example uses, with the
 * same signatures as the real packages — installing react-native itself only to type-check a
 * few dozen lines would pull in hundreds of megabytes. The push / device libraries
 * (@react-native-firebase/messaging, @notifee/react-native, react-native-device-info,
 * @react-native-community/netinfo) are the real ones, installed as devDependencies.
 */
declare var console: { log(...data: unknown[]): void; warn(...data: unknown[]): void };

declare module "react-native" {
  import type { ComponentType, ReactNode } from "react";

  export type AppStateStatus = "active" | "background" | "inactive" | "unknown" | "extension";
  export type AppStateEvent = "change" | "memoryWarning" | "blur" | "focus";
  export interface NativeEventSubscription {
    remove(): void;
  }
  export interface AppStateStatic {
    currentState: AppStateStatus;
    isAvailable: boolean;
    addEventListener(type: AppStateEvent, listener: (state: AppStateStatus) => void): NativeEventSubscription;
  }
  export const AppState: AppStateStatic;

  export const AppRegistry: {
    registerComponent(appKey: string, getComponentFunc: () => ComponentType<any>): string;
  };
  export const Linking: { openURL(url: string): Promise<any> };
  export const Platform: { OS: "ios" | "android" | "web" | "windows" | "macos" };

  export const View: ComponentType<{ style?: object; children?: ReactNode }>;
  export const Text: ComponentType<{ style?: object; children?: ReactNode }>;
  export const Button: ComponentType<{ title: string; onPress: () => void; disabled?: boolean }>;
  export const Switch: ComponentType<{ value?: boolean; onValueChange?: (value: boolean) => void }>;
  export function FlatList<T>(props: {
    data: readonly T[] | null | undefined;
    renderItem: (info: { item: T; index: number }) => ReactNode;
    keyExtractor?: (item: T, index: number) => string;
  }): ReactNode;
}

declare module "@react-native-async-storage/async-storage" {
  const AsyncStorage: {
    getItem(key: string): Promise<string | null>;
    setItem(key: string, value: string): Promise<void>;
    removeItem(key: string): Promise<void>;
    clear(): Promise<void>;
  };
  export default AsyncStorage;
}
