// The client's state (one object, shared by every module), what is kept in localStorage,

// and looking up conversations ("buffers") by name.

import { folder } from "./irc.js";

// --- constants --------------------------------------------------------------------------

export const WS_PATH = "/irc";
export const SERVER_KEY = "*server*"; // no nick or channel can be this
export const MAX_LINES = 2000; // per conversation kept on the page
export const HISTORY_LIMIT = 100;
export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 60000;
export const WANTED_CAPS = [
  "server-time", "echo-message", "message-tags", "multi-prefix", "batch", "away-notify",
  "account-notify", "extended-join", "chghost", "setname", "invite-notify", "cap-notify",
  "userhost-in-names", "draft/chathistory", "chathistory",
];
const STORE_KEY = "hubbub.web";
const SETTINGS_KEY = "hubbub.web.settings"; // {formatting: bool}
// --- state ------------------------------------------------------------------------------

export const state = {
  ws: null,
  options: null, // {nick, channels, password, saslUser, saslPass}
  nick: "",
  registered: false,
  userQuit: false,
  fatal: false,
  attempt: 0,
  reconnectTimer: null,
  reconnectAt: 0,
  countdownTimer: null,
  available: new Map(), // CAP LS: name -> value
  lsDone: false,
  caps: new Set(), // enabled
  saslPending: false,
  nakRetried: false,
  isupport: {},
  prefixModes: "ov",
  prefixChars: "@+",
  chanTypes: "#&",
  statusMsg: "",
  chanModes: ["beI", "k", "l", "imnpst"],
  fold: folder("rfc1459"),
  showFormatting: true, // draw mIRC bold, colours...; off: strip them (a setting)
  network: "",
  buffers: new Map(),
  order: [],
  active: SERVER_KEY,
  batches: new Map(),
  pendingJoins: new Set(),
  pendingWho: new Set(), // folded channels whose WHO replies we asked for silently
  whowasNick: null, // folded nick whose WHOWAS reply is coming (its 312 says "was on")
  listCounts: new Map(), // "367 #folded" -> entries of a ban/exception list so far
  wantJoined: new Set(), // folded channel names to join again after a reconnect
};

export function save() {
  try {
    const joined = [];
    for (const b of state.buffers.values()) if (b.kind === "channel" && b.joined) joined.push(b.name);
    const data = { nick: state.options ? state.options.nick : "", channels: joined };
    if (!data.channels.length && state.options) data.channels = state.options.channels;
    localStorage.setItem(STORE_KEY, JSON.stringify(data));
  } catch (_) {
    /* storage may be disabled */
  }
}

export function loadSettings() {
  try {
    const settings = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {};
    state.showFormatting = settings.formatting !== false;
  } catch (_) {
    state.showFormatting = true;
  }
}

export function saveSettings() {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ formatting: state.showFormatting }));
  } catch (_) {
    /* storage may be disabled */
  }
}

export function load() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
  } catch (_) {
    return {};
  }
}
export function isChannel(name) {
  return !!name && state.chanTypes.includes(name[0]);
}

export function keyOf(name) {
  return name === SERVER_KEY ? SERVER_KEY : state.fold(name);
}

export function getBuffer(name) {
  return state.buffers.get(keyOf(name)) || null;
}
export function activeBuffer() {
  return state.buffers.get(state.active) || state.buffers.get(SERVER_KEY);
}
export function isMe(nick) {
  return !!nick && state.fold(nick) === state.fold(state.nick);
}
