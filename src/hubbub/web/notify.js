// Browser notifications (the Notification API) for mentions and private messages while the
// page is hidden. The permission is asked once, from a click (the Connect button or the
// setting); the tab's title counts what is unread of those ("(3) hubbub", in render.js).

import { stripFormatting } from "./format.js";
import { state, settingsNotifyAsked, setNotifyAsked } from "./state.js";
import { pageVisible, switchTo } from "./render.js";

const BODY_LENGTH = 200;

function supported() {
  return typeof window.Notification === "function";
}

/** From a user gesture: ask for the permission, the first time only. */
export function askPermissionOnce() {
  if (!supported() || !state.settings.notify || Notification.permission !== "default") return;
  if (settingsNotifyAsked()) return;
  setNotifyAsked();
  askPermission();
}

/** From a user gesture (the setting turned on): ask if the browser has not been told. */
export function askPermission() {
  if (!supported() || Notification.permission !== "default") return;
  try {
    const asked = Notification.requestPermission();
    if (asked && asked.catch) asked.catch(() => {});
  } catch (_) {
    /* old browsers take a callback instead; not worth supporting */
  }
}

/** What the setting's hint says about the browser's permission. */
export function permissionText() {
  if (!supported()) return "This browser cannot show notifications.";
  if (Notification.permission === "denied") return "Notifications are blocked in this browser's site settings.";
  return "";
}

/** A message that mentions you, or a private one: a notification if the page is hidden. */
export function notifyMessage(buffer, kind, nick, text) {
  if (!state.settings.notify || !supported() || Notification.permission !== "granted" || pageVisible()) return;
  const title = buffer.kind === "query" ? nick : `${nick} in ${buffer.name}`;
  let body = stripFormatting(text);
  if (kind === "action") body = `* ${nick} ${body}`;
  if (body.length > BODY_LENGTH) body = body.slice(0, BODY_LENGTH - 1) + "…";
  try {
    const note = new Notification(title, { body, tag: "hubbub:" + buffer.key, icon: "favicon.svg" });
    note.addEventListener("click", () => {
      window.focus();
      if (state.buffers.has(buffer.key)) switchTo(buffer.key);
      note.close();
    });
  } catch (_) {
    /* (Chrome on Android allows them only from a service worker) */
  }
}
