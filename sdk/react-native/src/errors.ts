import type { ApiErrorBody } from "./types";

export type OptimusErrorCode =
  /** The server refused one queued event (its per-row result): it is dropped, not retried. */
  | "rejected"
  /** A 4xx other than 401 / 429 for a queued request: dropped, not retried. */
  | "client_error"
  /** 401: the token is missing, unknown or revoked. Nothing is dropped; sending resumes on the next trigger. */
  | "unauthenticated"
  /** The queue reached `maxQueueSize`; the oldest events were dropped. */
  | "queue_full"
  /** Reading or writing the queue's storage failed. */
  | "storage"
  /** A direct call (inbox, preferences) failed on the network or with a server error. */
  | "network"
  | "server_error";

/** What the SDK reports to the app (Optimus.init's `onError`, or `client.on("error", …)`). */
export class OptimusError extends Error {
  readonly code: OptimusErrorCode;
  /** HTTP status, when there was an answer. */
  readonly status: number | undefined;
  /** The server's `{"error": {"code", "message", "fields"?}}`, when it sent one. */
  readonly body: ApiErrorBody | undefined;
  /** The queued items this error is about (dropped unless code is `unauthenticated`). */
  readonly items: readonly unknown[];

  constructor(
    code: OptimusErrorCode,
    message: string,
    extra: { status?: number; body?: ApiErrorBody; items?: readonly unknown[] } = {},
  ) {
    super(message);
    this.name = "OptimusError";
    this.code = code;
    this.status = extra.status;
    this.body = extra.body;
    this.items = extra.items ?? [];
  }
}
