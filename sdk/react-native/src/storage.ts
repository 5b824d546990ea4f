/**
 * Where the queue lives between app launches. The interface is AsyncStorage's own (getItem /
 * setItem / removeItem with string values), so `@react-native-async-storage/async-storage` fits
 * as it is; `MemoryStorage` is for tests (and for apps that accept losing the queue on exit).
 */
export interface QueueStorage {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

export class MemoryStorage implements QueueStorage {
  private readonly values = new Map<string, string>();

  async getItem(key: string): Promise<string | null> {
    return this.values.has(key) ? (this.values.get(key) as string) : null;
  }

  async setItem(key: string, value: string): Promise<void> {
    this.values.set(key, value);
  }

  async removeItem(key: string): Promise<void> {
    this.values.delete(key);
  }
}

/** The subset of `@react-native-async-storage/async-storage`'s default export the SDK needs. */
export interface AsyncStorageLike {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/**
 * `storage: asyncStorage(AsyncStorage)` in Optimus.init. The SDK never imports AsyncStorage itself:
 * the app passes its instance, so the package has no runtime dependency on it.
 */
export function asyncStorage(storage: AsyncStorageLike): QueueStorage {
  return {
    getItem: (key) => storage.getItem(key),
    setItem: (key, value) => storage.setItem(key, value),
    removeItem: (key) => storage.removeItem(key),
  };
}
