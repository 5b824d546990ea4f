import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePushData, sanitizeContext } from "../src/index";

test("the push data payload: strings as FCM sends them", () => {
  assert.deepEqual(parsePushData({ notification_id: "42", type: "newsletter", item_ids: '["sku-1", "7"]', link: "shop://x" }), {
    notificationId: 42,
    type: "newsletter",
    itemIds: ["sku-1", "7"],
    link: "shop://x",
  });
  assert.deepEqual(parsePushData({ notification_id: "5", item_ids: "[]", link: "" }), {
    notificationId: 5,
    type: undefined,
    itemIds: [],
    link: undefined,
  });
  assert.deepEqual(parsePushData({ notification_id: 6, item_ids: ["a"] })?.itemIds, ["a"]);
  assert.deepEqual(parsePushData({ notification_id: "6", item_ids: "not json" })?.itemIds, []);
});

test("anything that is not an Optimus push is ignored", () => {
  for (const data of [undefined, null, {}, { notification_id: "" }, { notification_id: "abc" }, { notification_id: "-1" }, { notification_id: "0" }, { notification_id: {} }]) {
    assert.equal(parsePushData(data as never), null, JSON.stringify(data));
  }
});

test("a device context keeps only what the server accepts", () => {
  assert.deepEqual(sanitizeContext({ battery: 101.4, charging: "yes", network: "5g", app_state: "asleep", os: "", extra: 1 }), {
    battery: 100,
    network: "unknown",
  });
  assert.deepEqual(sanitizeContext({ battery: -3, charging: false, network: "none", app_state: "killed", os: "x".repeat(150) }), {
    battery: 0,
    charging: false,
    network: "none",
    app_state: "killed",
    os: "x".repeat(100),
  });
  assert.deepEqual(sanitizeContext(null), {});
});
