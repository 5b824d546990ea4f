import type { DeviceRequest, FeedbackRequest, MobileEvent } from "./types";
import type { QueueStorage } from "./storage";

interface ItemBase {
  /** Unique in the queue: the event's UUID, `feedback:{id}:{action}`, or `device`. */
  id: string;
  /** When it was queued (ms since the epoch). */
  queuedAt: number;
}

export interface EventItem extends ItemBase {
  kind: "event";
  event: MobileEvent;
}

export interface FeedbackItem extends ItemBase {
  kind: "feedback";
  notificationId: number;
  feedback: FeedbackRequest;
}

export interface DeviceItem extends ItemBase {
  kind: "device";
  device: DeviceRequest;
}

export type QueueItem = EventItem | FeedbackItem | DeviceItem;

const VERSION = 1;

/**
 * The outbox: every event, feedback and device registration is written here before anything is
 * sent, and removed only once the server has answered for it. Writes are serialised and
 * coalesced (one JSON document under one key); a `push` resolves once the item is stored.
 */
export class PersistentQueue {
  private items: QueueItem[] = [];
  private writing: Promise<void> | null = null;
  private dirty = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly storage: QueueStorage,
    private readonly key: string,
    private readonly maxSize: number,
    private readonly onStorageError: (error: unknown) => void,
    private readonly onOverflow: (dropped: QueueItem[]) => void,
  ) {}

  /** Reads what a previous run left. Items pushed before the load completes are kept after them. */
  async load(): Promise<void> {
    let stored: QueueItem[] = [];
    try {
      const text = await this.storage.getItem(this.key);
      if (text) {
        const doc = JSON.parse(text) as { v?: number; items?: unknown };
        if (doc && doc.v === VERSION && Array.isArray(doc.items)) stored = doc.items.filter(isItem);
      }
    } catch (error) {
      this.onStorageError(error);
    }
    if (stored.length) {
      const known = new Set(stored.map((i) => i.id));
      this.items = [...stored, ...this.items.filter((i) => !known.has(i.id))];
      this.changed();
    }
  }

  get size(): number {
    return this.items.length;
  }

  snapshot(): readonly QueueItem[] {
    return this.items.slice();
  }

  has(id: string): boolean {
    return this.items.some((i) => i.id === id);
  }

  /** Adds an item unless one with the same id is queued; `replaceKind` first drops all of that kind. */
  async push(item: QueueItem, options: { replaceKind?: QueueItem["kind"] } = {}): Promise<boolean> {
    if (options.replaceKind) this.items = this.items.filter((i) => i.kind !== options.replaceKind);
    else if (this.has(item.id)) return false;
    this.items.push(item);
    if (this.items.length > this.maxSize) {
      // Over the cap: the oldest events go first (feedback and registrations are few and precious).
      const excess = this.items.length - this.maxSize;
      const dropped: QueueItem[] = [];
      this.items = this.items.filter((i) => {
        if (dropped.length < excess && i.kind === "event" && i !== item) {
          dropped.push(i);
          return false;
        }
        return true;
      });
      if (dropped.length) this.onOverflow(dropped);
    }
    this.changed();
    await this.save();
    return true;
  }

  async remove(ids: Iterable<string>): Promise<void> {
    const gone = new Set(ids);
    if (gone.size === 0) return;
    const before = this.items.length;
    this.items = this.items.filter((i) => !gone.has(i.id));
    if (this.items.length !== before) {
      this.changed();
      await this.save();
    }
  }

  async replace(item: QueueItem): Promise<void> {
    this.items = this.items.map((i) => (i.id === item.id ? item : i));
    await this.save();
  }

  /** Called on every change (used to wake `whenIdle`). */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of Array.from(this.listeners)) listener();
  }

  /** Resolves once the current contents are stored. */
  save(): Promise<void> {
    this.dirty = true;
    if (!this.writing) {
      this.writing = (async () => {
        try {
          while (this.dirty) {
            this.dirty = false;
            const text = JSON.stringify({ v: VERSION, items: this.items });
            try {
              await this.storage.setItem(this.key, text);
            } catch (error) {
              this.onStorageError(error);
            }
          }
        } finally {
          this.writing = null;
        }
      })();
    }
    return this.writing;
  }
}

function isItem(value: unknown): value is QueueItem {
  if (!value || typeof value !== "object") return false;
  const v = value as Partial<QueueItem>;
  if (typeof v.id !== "string") return false;
  return (
    (v.kind === "event" && typeof (v as EventItem).event === "object") ||
    (v.kind === "feedback" && typeof (v as FeedbackItem).notificationId === "number") ||
    (v.kind === "device" && typeof (v as DeviceItem).device === "object")
  );
}
