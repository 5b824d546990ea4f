/**
 * The data payload every Optimus push carries (FCM data values are strings):
 * `notification_id`, `type` (the notification type's slug), `item_ids` (a JSON-encoded list of
 * item external ids) and `link` (the deep link).
 */
export interface OptimusPush {
  notificationId: number;
  type: string | undefined;
  itemIds: string[];
  link: string | undefined;
}

/** What push libraries hand over as `data`: string values, sometimes already-parsed objects or numbers. */
export type PushData = { [key: string]: string | object | number } | undefined | null;

/** The Optimus fields of a push's data payload, or null when it is not an Optimus push. */
export function parsePushData(data: PushData): OptimusPush | null {
  if (!data || typeof data !== "object") return null;
  const raw = data["notification_id"];
  const id = typeof raw === "number" ? raw : typeof raw === "string" && /^\s*\d{1,18}\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0) return null;
  const type = data["type"];
  const link = data["link"];
  return {
    notificationId: id,
    type: typeof type === "string" ? type : undefined,
    itemIds: parseItemIds(data["item_ids"]),
    link: typeof link === "string" && link !== "" ? link : undefined,
  };
}

function parseItemIds(value: unknown): string[] {
  let list: unknown = value;
  if (typeof value === "string") {
    try {
      list = JSON.parse(value);
    } catch {
      return [];
    }
  }
  return Array.isArray(list) ? list.filter((v): v is string | number => typeof v === "string" || typeof v === "number").map(String) : [];
}
