// The client's state (one object, shared by every module), what is kept in the browser's
// storage, and looking up conversations ("buffers") by name.

import { folder } from "./irc.js";

// --- constants --------------------------------------------------------------------------

export const WS_PATH = "/irc";
export const SERVER_KEY = "*server*"; // no nick or channel can be this
export const MAX_LINES = 2000; // per conversation, trimmed from the oldest as live lines come
export const HISTORY_PAGE = 50; // lines per CHATHISTORY request (at most the server's limit)
export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 60000;
export const WANTED_CAPS = [
  "server-time", "echo-message", "message-tags", "multi-prefix", "batch", "away-notify",
  "account-notify", "extended-join", "chghost", "setname", "invite-notify", "cap-notify",
  "userhost-in-names", "draft/chathistory", "chathistory", "draft/read-marker",
  "soju.im/search", "draft/message-redaction", "draft/multiline",
];
const MAX_SAVED_QUERIES = 30; // private conversations reopened after a reload
const MAX_SAVED_MARKERS = 300; // read markers kept in localStorage (see markers below)

// localStorage (kept until cleared): who you are, your conversations, your settings.
const STORE_KEY = "hubbub.web"; // {nick, account, channels, queries, active, auto, markers, lastSeen}
const SETTINGS_KEY = "hubbub.web.settings"; // {formatting, typing, notify}
// sessionStorage (this tab only, gone when it closes): the passwords, never in localStorage.
const SESSION_KEY = "hubbub.web.session"; // {password, saslPass}

// --- state ------------------------------------------------------------------------------

export const state = {
  ws: null,
  options: null, // {nick, channels, queries, password, saslUser, saslPass, register, email}
  nick: "",
  registered: false,
  userQuit: false,
  signingOut: false,
  fatal: false,
  attempt: 0,
  reconnectTimer: null,
  reconnectAt: 0,
  countdownTimer: null,
  available: new Map(), // CAP LS: name -> value
  lsDone: false,
  caps: new Set(), // enabled
  saslPending: false,
  registerPending: false, // REGISTER sent before CAP END, its answer awaited
  nakRetried: false,
  isupport: {},
  prefixModes: "ov",
  prefixChars: "@+",
  chanTypes: "#&",
  statusMsg: "",
  chanModes: ["beI", "k", "l", "imnpst"],
  fold: folder("rfc1459"),
  settings: { formatting: true, typing: true, notify: true },
  network: "",
  buffers: new Map(),
  order: [],
  active: SERVER_KEY,
  wantActive: null, // folded name of the conversation to show once it exists (after a reload)
  batches: new Map(),
  historyQueue: new Map(), // folded target -> CHATHISTORY requests awaiting their batch, in order
  pendingJoins: new Set(),
  pendingWho: new Set(), // folded channels whose WHO replies we asked for silently
  whowasNick: null, // folded nick whose WHOWAS reply is coming (its 312 says "was on")
  listCounts: new Map(), // "367 #folded" -> entries of a ban/exception list so far
  wantJoined: new Set(), // folded channel names to join again after a reconnect
  // Read markers we know of (folded target -> "2026-01-02T03:04:05.678Z"), kept in
  // localStorage so that a reload without an account (whose markers the server keeps only
  // for the connection) still knows where you stopped reading.
  markers: new Map(),
  lastSeen: 0, // the newest server time seen (ms), where CHATHISTORY TARGETS starts next time
};

// --- storage ----------------------------------------------------------------------------

function readJSON(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) || "{}") || {};
  } catch (_) {
    return {}; // storage may be disabled, or the value damaged
  }
}

function writeJSON(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch (_) {
    /* storage may be disabled or full */
  }
}

/** Who is signed in, as the saved markers are theirs: the account, else the nick. */
function identity() {
  const o = state.options;
  return o ? (o.saslUser ? "account:" + state.fold(o.saslUser) : "nick:" + state.fold(o.nick)) : "";
}

let saveTimer = null;

/** Remember the conversations (and where they were read) in localStorage. */
export function save() {
  clearTimeout(saveTimer);
  saveTimer = null;
  if (!state.options) return;
  const channels = [];
  const queries = [];
  for (const b of state.buffers.values()) {
    if (b.kind === "channel" && b.joined) channels.push(b.name);
    else if (b.kind === "query") queries.push(b.name);
  }
  for (const key of state.wantJoined) {
    const b = state.buffers.get(key);
    if (b && !channels.includes(b.name)) channels.push(b.name);
  }
  const o = state.options;
  const active = state.buffers.get(state.active);
  const markers = [...state.markers].slice(-MAX_SAVED_MARKERS);
  writeJSON(localStorage, STORE_KEY, {
    nick: o.nick,
    account: o.saslUser || "",
    channels: channels.length || state.registered ? channels : o.channels,
    queries: queries.slice(-MAX_SAVED_QUERIES),
    active: active && active.kind !== "server" ? active.name : state.wantActive || "",
    auto: !state.userQuit && !state.signingOut,
    who: identity(),
    markers: Object.fromEntries(markers),
    lastSeen: state.lastSeen,
  });
}

/** save() within a second: for changes that come often (markers, the last time seen). */
export function saveSoon() {
  if (!saveTimer) saveTimer = setTimeout(save, 1000);
}

/** What save() kept (an empty object when nothing is). */
export function load() {
  return readJSON(localStorage, STORE_KEY);
}

/** The saved read markers, if they are the signed-in person's. */
export function loadMarkers(saved) {
  state.markers = new Map();
  if (saved.who && saved.who === identity() && saved.markers && typeof saved.markers === "object") {
    for (const [k, v] of Object.entries(saved.markers)) if (typeof v === "string") state.markers.set(k, v);
  }
  state.lastSeen = saved.who === identity() && Number.isFinite(saved.lastSeen) ? saved.lastSeen : 0;
}

/** Forget that we were signed in: the next page load shows the form. */
export function forgetSession() {
  try {
    sessionStorage.removeItem(SESSION_KEY);
  } catch (_) {
    /* storage may be disabled */
  }
  const saved = load();
  saved.auto = false;
  writeJSON(localStorage, STORE_KEY, saved);
}

/** The passwords of this tab (sessionStorage: they last as long as the tab). */
export function loadSecrets() {
  return readJSON(sessionStorage, SESSION_KEY);
}

export function saveSecrets(secrets) {
  writeJSON(sessionStorage, SESSION_KEY, secrets);
}

export function loadSettings() {
  const s = readJSON(localStorage, SETTINGS_KEY);
  state.settings = { formatting: s.formatting !== false, typing: s.typing !== false, notify: s.notify !== false };
}

export function saveSettings() {
  writeJSON(localStorage, SETTINGS_KEY, { ...state.settings, notifyAsked: settingsNotifyAsked() });
}

/** Whether we already asked for the notification permission (we ask once). */
export function settingsNotifyAsked() {
  return !!readJSON(localStorage, SETTINGS_KEY).notifyAsked;
}

export function setNotifyAsked() {
  writeJSON(localStorage, SETTINGS_KEY, { ...state.settings, notifyAsked: true });
}

// --- buffers ----------------------------------------------------------------------------

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

/** A server-time tag ("2026-01-02T03:04:05.678Z") as ms; NaN when it is not one. */
export function parseStamp(stamp) {
  return /^\d{4}-\d\d-\d\dT/.test(stamp || "") ? Date.parse(stamp) : NaN;
}
