import notifee from "@notifee/react-native";
import NetInfo from "@react-native-community/netinfo";
import { getMessaging } from "@react-native-firebase/messaging";
import { useEffect, useState } from "react";
import { AppState, Button, FlatList, Linking, Switch, Text, View } from "react-native";
import { Optimus, attachFirebaseMessaging, attachLifecycle, attachNotifee, type InboxEntry, type OptimusPush } from "optimus-react-native";

function openLink(push: OptimusPush): void {
  if (push.link) void Linking.openURL(push.link);
}

export default function App() {
  const [inbox, setInbox] = useState<InboxEntry[]>([]);
  const [quietNights, setQuietNights] = useState(false);

  useEffect(() => {
    const client = Optimus.client;
    // FCM token → registerDevice; pushes → delivered / opened (with notification_id from the data).
    const detachFirebase = attachFirebaseMessaging(client, getMessaging(), {
      onOpen: openLink,
      // Show foreground pushes with notifee, passing the data on so its events carry notification_id.
      onForegroundMessage: (push, message) =>
        void notifee.displayNotification({ title: `${push.type}`, body: push.itemIds.join(", "), data: message.data }),
    });
    const detachNotifee = attachNotifee(client, notifee, { onOpen: openLink }); // press / dismiss
    const detachLifecycle = attachLifecycle(client, { AppState, NetInfo }); // app_open, flush on foreground / online
    Optimus.inbox({ pageSize: 20 })
      .then((page) => setInbox(page.results))
      .catch(() => undefined);
    return () => {
      detachFirebase();
      detachNotifee();
      detachLifecycle();
    };
  }, []);

  const toggleQuietNights = async (on: boolean) => {
    const prefs = await Optimus.setPreferences({ quiet_hours: on ? { start: "22:00", end: "07:30" } : null });
    setQuietNights(prefs.quiet_hours !== null);
  };

  return (
    <View>
      <Button title="View sku-9" onPress={() => void Optimus.track("view", "sku-9")} />
      <Button title="Add sku-9 to cart" onPress={() => void Optimus.track("addtocart", "sku-9")} />
      <Button title="Buy sku-9 (19.90)" onPress={() => void Optimus.track("transaction", "sku-9", 19.9)} />
      <Text>Quiet at night</Text>
      <Switch value={quietNights} onValueChange={(on) => void toggleQuietNights(on)} />
      <FlatList
        data={inbox}
        keyExtractor={(n) => String(n.id)}
        renderItem={({ item }) => <Text>{`${item.title}${item.opened_at ? "" : " •"}`}</Text>}
      />
    </View>
  );
}
