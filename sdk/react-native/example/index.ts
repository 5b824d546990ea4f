// The app's entry point (index.js in a React Native project). Optimus is initialised here, outside
// any component, so that the headless handlers Android runs for background pushes have it too.
import AsyncStorage from "@react-native-async-storage/async-storage";
import notifee from "@notifee/react-native";
import NetInfo from "@react-native-community/netinfo";
import { getMessaging, setBackgroundMessageHandler } from "@react-native-firebase/messaging";
import { AppRegistry, AppState } from "react-native";
import DeviceInfo from "react-native-device-info";
import { Optimus, asyncStorage, deviceInfoContext, firebaseBackgroundHandler, notifeeEventHandler } from "optimus-react-native";
import App from "./App";
import { customerToken } from "./session";

Optimus.init({
  baseUrl: "https://optimus.example.com",
  getToken: customerToken, // minted by your backend: POST /api/v1/customers/{id}/token
  storage: asyncStorage(AsyncStorage), // the queue survives restarts
  deviceContext: deviceInfoContext({ DeviceInfo, NetInfo, AppState }),
  appVersion: DeviceInfo.getVersion(),
  onError: (error) => console.warn(`optimus ${error.code}: ${error.message}`),
});

setBackgroundMessageHandler(getMessaging(), firebaseBackgroundHandler(() => Optimus.client));
notifee.onBackgroundEvent(notifeeEventHandler(() => Optimus.client, "background"));

AppRegistry.registerComponent("OptimusExample", () => App);
