/**
 * The wire types the SDK sends and receives, taken from the generated `api-types.ts` (the server's
 * OpenAPI schema) by path and method: when the server's contract changes, regenerating that file
 * makes whatever no longer fits fail to compile.
 */
import type { components, paths } from "./api-types";

type Schemas = components["schemas"];
type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;

/** POST /events body and reply. */
export type EventsRequest = Json<paths["/api/v1/events"]["post"]["requestBody"]>;
export type MobileEvent = EventsRequest["events"][number];
export type EventType = MobileEvent["type"];
export type BatchReply = Json<paths["/api/v1/events"]["post"]["responses"][200]>;
export type RowResult = BatchReply["results"][number];

/** POST /notifications/{id}/feedback. */
export type FeedbackRequest = Json<paths["/api/v1/notifications/{notification_id}/feedback"]["post"]["requestBody"]>;
export type FeedbackAction = FeedbackRequest["action"];
export type DeviceContext = NonNullable<FeedbackRequest["context"]>;
export type NetworkType = NonNullable<DeviceContext["network"]>;
export type AppStateValue = NonNullable<DeviceContext["app_state"]>;
export type FeedbackReply = Json<paths["/api/v1/notifications/{notification_id}/feedback"]["post"]["responses"][201]>;

/** POST /devices. */
export type DeviceRequest = Json<paths["/api/v1/devices"]["post"]["requestBody"]>;
export type Platform = DeviceRequest["platform"];
export type Device = Json<paths["/api/v1/devices"]["post"]["responses"][201]>;

/** GET /notifications: one inbox entry. */
export type InboxEntry = Schemas["InboxEntry"];

/**
 * GET /notifications reply. The server paginates it (DRF page-number pagination:
 * `{count, next, previous, results}`) although its schema documents a bare list; see the README.
 */
export interface InboxPage {
  count: number;
  next: string | null;
  previous: string | null;
  results: InboxEntry[];
}

/** GET / PATCH /me/preferences. */
export type Preferences = Json<paths["/api/v1/me/preferences"]["get"]["responses"][200]>;
export type PreferencesPatch = NonNullable<
  Json<NonNullable<paths["/api/v1/me/preferences"]["patch"]["requestBody"]>>
>;

/** The error shape of every 4xx / 5xx answer. */
export type ApiErrorBody = Schemas["Error"];
