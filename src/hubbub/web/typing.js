// Typing notifications: the +typing client tag (https://ircv3.net/specs/client-tags/typing),
// shown ("alice is typing…") and sent, unless the user turned sending off.
//
// Sent: "active" while the user edits a message (not a /command), at most one notification
// per conversation every 3 seconds as the spec requires; "paused" once after 5 seconds
// without a keystroke; "done" once when the box is emptied without sending (a message sent
// says it by itself). Shown: until a message from them, their done, 6 seconds after an active,
// 30 after a paused, or their leaving.

import { $ } from "./dom.js";
import { state, activeBuffer, getBuffer, isChannel, isMe } from "./state.js";
import { send } from "./connection.js";

const THROTTLE_MS = 3000;
const PAUSED_AFTER_MS = 5000;
const ACTIVE_FOR_MS = 6000;
const PAUSED_FOR_MS = 30000;

// --- sending ----------------------------------------------------------------------------

const outgoing = new Map(); // folded target -> {name, sent, sentAt, wanted, timer, pauseTimer}

/** Whether the server relays client tags and does not refuse +typing (ISUPPORT CLIENTTAGDENY). */
function mayTell() {
  if (!state.settings.typing || !state.registered || !state.caps.has("message-tags")) return false;
  const deny = state.isupport.CLIENTTAGDENY;
  if (deny === undefined) return true;
  const items = deny.split(",");
  if (items.includes("-typing")) return true;
  return !items.includes("*") && !items.includes("typing");
}

function outgoingFor(buffer) {
  let o = outgoing.get(buffer.key);
  if (!o) {
    o = { name: buffer.name, sent: null, sentAt: 0, wanted: null, timer: null, pauseTimer: null };
    outgoing.set(buffer.key, o);
  }
  o.name = buffer.name;
  return o;
}

function flush(o) {
  clearTimeout(o.timer);
  o.timer = null;
  if (!o.wanted || (o.wanted === o.sent && o.wanted !== "active")) return;
  if (!mayTell()) return;
  send(`@+typing=${o.wanted} TAGMSG ${o.name}`);
  o.sent = o.wanted;
  o.sentAt = Date.now();
}

function want(buffer, what) {
  const o = outgoingFor(buffer);
  if (what !== "active") {
    clearTimeout(o.pauseTimer);
    // Nothing to take back when we said nothing, or said it already.
    if (o.sent === null || o.sent === "done" || o.sent === what) {
      o.wanted = o.sent;
      clearTimeout(o.timer);
      o.timer = null;
      return;
    }
  }
  o.wanted = what;
  const wait = o.sentAt + THROTTLE_MS - Date.now();
  if (wait <= 0) flush(o);
  else if (what !== "active" && !o.timer) o.timer = setTimeout(() => flush(o), wait);
  // (an active within the 3 seconds waits for the next keystroke, as typing goes on)
}

/** The message box changed. */
export function onTypingInput() {
  const buffer = activeBuffer();
  if (!buffer || buffer.kind === "server") return;
  const text = $("input").value;
  if (!text.trim() || (text.startsWith("/") && !text.startsWith("//"))) {
    want(buffer, "done");
    return;
  }
  want(buffer, "active");
  const o = outgoingFor(buffer);
  clearTimeout(o.pauseTimer);
  o.pauseTimer = setTimeout(() => want(buffer, "paused"), PAUSED_AFTER_MS);
}

/** A message was sent there: that ends the typing, with nothing more to send. */
export function messageSent(buffer) {
  const o = outgoing.get(buffer.key);
  if (!o) return;
  clearTimeout(o.timer);
  clearTimeout(o.pauseTimer);
  o.timer = null;
  o.sent = null;
  o.wanted = null;
}

/** We leave the conversation (switch to another one) while typing there: done. */
export function stopTyping(buffer) {
  if (outgoing.has(buffer.key)) want(buffer, "done");
}

// --- showing ----------------------------------------------------------------------------

let expiryTimer = null;

/** TAGMSG with +typing from someone else, in a channel or to us. */
export function handleTagmsg(msg) {
  const value = msg.tags["+typing"];
  if (value === undefined || !msg.nick || isMe(msg.nick)) return;
  const target = msg.params[0] || "";
  const buffer = isChannel(target) ? getBuffer(target) : getBuffer(msg.nick);
  if (!buffer) return; // (no conversation opened just because someone types)
  const key = state.fold(msg.nick);
  if (value === "active" || value === "paused") {
    buffer.typing.set(key, { nick: msg.nick, until: Date.now() + (value === "active" ? ACTIVE_FOR_MS : PAUSED_FOR_MS) });
  } else {
    buffer.typing.delete(key);
  }
  changed(buffer);
}

/** They said something (or left): no longer typing. */
export function clearTyping(buffer, nick) {
  if (buffer.typing.delete(state.fold(nick))) changed(buffer);
}

function changed(buffer) {
  if (buffer.key === state.active) renderTyping();
  scheduleExpiry();
}

function scheduleExpiry() {
  clearTimeout(expiryTimer);
  let next = Infinity;
  for (const buffer of state.buffers.values()) for (const t of buffer.typing.values()) next = Math.min(next, t.until);
  if (next === Infinity) return;
  expiryTimer = setTimeout(() => {
    const now = Date.now();
    for (const buffer of state.buffers.values()) {
      for (const [key, t] of buffer.typing) if (t.until <= now) buffer.typing.delete(key);
    }
    renderTyping();
    scheduleExpiry();
  }, Math.max(50, next - Date.now()));
}

/** "alice is typing…" under the messages of the conversation in view. */
export function renderTyping() {
  const buffer = activeBuffer();
  const now = Date.now();
  const nicks = buffer ? [...buffer.typing.values()].filter((t) => t.until > now).map((t) => t.nick) : [];
  let text = "";
  if (nicks.length === 1) text = `${nicks[0]} is typing…`;
  else if (nicks.length === 2) text = `${nicks[0]} and ${nicks[1]} are typing…`;
  else if (nicks.length > 2) text = `${nicks.length} people are typing…`;
  $("typing").textContent = text;
}
