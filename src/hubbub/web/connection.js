// The WebSocket: connecting, reconnecting with backoff, capability negotiation and SASL.

import { buildLine, base64, parseCapList } from "./irc.js";
import { $ } from "./dom.js";
import { WS_PATH, BACKOFF_MIN_MS, BACKOFF_MAX_MS, WANTED_CAPS, state, save, loadSecrets, saveSecrets } from "./state.js";
import { renderBufferList, renderHeader, renderMembers, info, error, serverBuffer, setStatus, showLogin } from "./render.js";
import { rememberPositions } from "./history.js";
import { renderTyping } from "./typing.js";
import { renderSearchBox } from "./search.js";
import { receive } from "./events.js";

// --- connection -------------------------------------------------------------------------

export function send(line) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(line);
}

export function sendCmd(command, ...params) {
  send(buildLine(command, ...params));
}
function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${WS_PATH}`;
}

export function connect() {
  clearTimeout(state.reconnectTimer);
  clearInterval(state.countdownTimer);
  state.reconnectTimer = null;
  $("reconnect-button").hidden = true;
  state.registered = false;
  state.lsDone = false;
  state.available = new Map();
  state.caps = new Set();
  state.batches = new Map();
  state.fatal = false;
  state.nakRetried = false;
  state.saslPending = false;
  state.registerPending = false;
  state.reclaimingNick = false;
  setStatus("connecting…", "connecting");
  let ws;
  try {
    ws = new WebSocket(wsUrl(), ["text.ircv3.net"]);
  } catch (e) {
    scheduleReconnect();
    return;
  }
  state.ws = ws;
  ws.addEventListener("open", () => {
    if (state.ws !== ws) return;
    setStatus("registering…", "connecting");
    const o = state.options;
    sendCmd("CAP", "LS", "302");
    if (o.password) sendCmd("PASS", o.password);
    state.nick = o.nick;
    sendCmd("NICK", o.nick);
    sendCmd("USER", (o.saslUser || o.nick).replace(/[^A-Za-z0-9_-]/g, "").slice(0, 10) || "web", "0", "*", "hubbub web user");
  });
  ws.addEventListener("message", (event) => {
    if (state.ws !== ws) return;
    const text = typeof event.data === "string" ? event.data : "";
    for (const raw of text.split(/\r?\n/)) {
      if (!raw) continue;
      try {
        receive(raw);
      } catch (e) {
        console.error("error handling", raw, e);
      }
    }
  });
  ws.addEventListener("close", (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    onDisconnect(event);
  });
}

function onDisconnect(event) {
  const wasRegistered = state.registered;
  state.registered = false;
  for (const buffer of state.buffers.values()) {
    if (buffer.kind === "channel") {
      if (buffer.joined) state.wantJoined.add(buffer.key);
      buffer.joined = false;
      buffer.members.clear();
    }
    buffer.typing.clear();
  }
  rememberPositions();
  renderTyping();
  renderBufferList();
  renderMembers();
  renderHeader();
  if (state.signingOut) {
    location.reload(); // back to an empty form (forgetSession() said not to sign in again)
    return;
  }
  if (state.userQuit) {
    setStatus("disconnected", "offline");
    info("Disconnected.");
    $("reconnect-button").hidden = false;
    return;
  }
  if (state.fatal) {
    setStatus("disconnected", "offline");
    showLogin(state.fatal);
    return;
  }
  info(`Connection lost${event && event.code ? " (" + event.code + ")" : ""}.`);
  if (wasRegistered) state.attempt = 0;
  scheduleReconnect();
}

function scheduleReconnect() {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
  const delay = Math.round(base / 2 + Math.random() * (base / 2));
  state.attempt += 1;
  state.reconnectAt = Date.now() + delay;
  $("reconnect-button").hidden = false;
  const tick = () => {
    const left = Math.max(0, Math.ceil((state.reconnectAt - Date.now()) / 1000));
    setStatus(`reconnecting in ${left}s`, "offline");
  };
  tick();
  clearInterval(state.countdownTimer);
  state.countdownTimer = setInterval(tick, 1000);
  state.reconnectTimer = setTimeout(() => {
    clearInterval(state.countdownTimer);
    connect();
  }, delay);
}
// --- capabilities and SASL --------------------------------------------------------------
function wantSasl() {
  const o = state.options;
  if (!o.saslUser || !o.saslPass || !state.available.has("sasl")) return false;
  const mechs = state.available.get("sasl");
  return !mechs || mechs.split(",").includes("PLAIN");
}

export function handleCap(msg) {
  const sub = (msg.params[1] || "").toUpperCase();
  const more = msg.params.length > 3 && msg.params[2] === "*";
  const list = msg.params[msg.params.length - 1] || "";
  if (sub === "LS") {
    for (const [k, v] of parseCapList(list)) state.available.set(k, v);
    if (more || state.lsDone) return;
    state.lsDone = true;
    const request = WANTED_CAPS.filter((c) => state.available.has(c));
    if (wantSasl()) request.push("sasl");
    if (request.length) sendCmd("CAP", "REQ", request.join(" "));
    else capsDone();
  } else if (sub === "ACK") {
    for (const name of list.split(" ")) {
      if (!name) continue;
      if (name.startsWith("-")) state.caps.delete(name.slice(1));
      else state.caps.add(name);
    }
    capsDone();
  } else if (sub === "NAK") {
    if (!state.registered) {
      // Ask again for what is not refused; give up after one try.
      const refused = new Set(list.split(" "));
      const retry = WANTED_CAPS.filter((c) => state.available.has(c) && !refused.has(c) && !state.caps.has(c));
      if (retry.length && !state.nakRetried) {
        state.nakRetried = true;
        sendCmd("CAP", "REQ", retry.join(" "));
      } else {
        capsDone();
      }
    }
  } else if (sub === "NEW") {
    const added = parseCapList(list);
    for (const [k, v] of added) state.available.set(k, v);
    const request = WANTED_CAPS.filter((c) => added.has(c) && !state.caps.has(c));
    if (request.length) sendCmd("CAP", "REQ", request.join(" "));
  } else if (sub === "DEL") {
    for (const name of list.split(" ")) {
      state.available.delete(name);
      state.caps.delete(name);
    }
  }
  if (state.registered) renderSearchBox();
}

export function handleAuthenticate(msg) {
  if (!state.saslPending || msg.params[0] !== "+") return;
  const o = state.options;
  const payload = base64(`${o.saslUser}\0${o.saslUser}\0${o.saslPass}`);
  for (let i = 0; i < payload.length; i += 400) send("AUTHENTICATE " + payload.slice(i, i + 400));
  if (payload.length % 400 === 0) send("AUTHENTICATE +");
}

export function saslDone(ok, text) {
  if (!state.saslPending) return;
  state.saslPending = false;
  info(ok ? text : "Login to your account failed: " + text);
  if (!ok) {
    // Not again with this password (after a reload, the form asks for it).
    state.options.saslPass = "";
    saveSecrets({ ...loadSecrets(), saslPass: "" });
    save();
  }
  if (!state.registered) sendCmd("CAP", "END");
}

/** Capabilities settled, before registration ends: create the account, or log in, then CAP END. */
function capsDone() {
  if (state.registered || state.saslPending || state.registerPending) return;
  if (registrationValue().includes("before-connect") && state.options.register) {
    state.registerPending = true;
    sendRegister();
  } else if (!state.options.register && state.caps.has("sasl") && wantSasl()) {
    state.saslPending = true;
    sendCmd("AUTHENTICATE", "PLAIN");
  } else {
    sendCmd("CAP", "END");
  }
}

// --- creating an account (IRCv3 draft/account-registration) -----------------------------

function registrationValue() {
  const value = state.available.get("draft/account-registration");
  return value === undefined ? [] : ["offered", ...value.split(",")];
}

function sendRegister() {
  const o = state.options;
  const custom = registrationValue().includes("custom-account-name");
  if (!custom && state.fold(o.saslUser) !== state.fold(state.nick)) {
    info(`This server names accounts after the nick: the account will be ${state.nick}.`);
    o.saslUser = state.nick;
  }
  sendCmd("REGISTER", custom ? o.saslUser : "*", o.email || "*", o.saslPass);
}

/** Registered (001): an account asked for and not created yet is created now. */
export function registerAfterConnect() {
  const o = state.options;
  if (!o.register) return;
  if (!registrationValue().length) {
    o.register = false;
    error("This server does not offer creating an account here.", serverBuffer());
    return;
  }
  sendRegister();
}

/** REGISTER SUCCESS <account> <message>, or VERIFICATION_REQUIRED. */
export function handleRegisterReply(msg) {
  const [status, account, text] = msg.params;
  const o = state.options;
  o.register = false;
  const created = (status || "").toUpperCase() === "SUCCESS";
  if (created) {
    o.saslUser = account || o.saslUser; // from now on (reconnects, reloads) SASL logs in
    info(`Account ${o.saslUser} created; you are logged in.`);
    save();
  } else {
    info(text || `Account ${account}: ${status}`);
  }
  if (state.registerPending) {
    state.registerPending = false;
    if (created) sendCmd("CAP", "END"); // (logged in already: no SASL now)
    else capsDone();
  }
}

/** FAIL REGISTER <code> <account> <message>: told; with ACCOUNT_EXISTS we try to log in. */
export function registerFailed(msg) {
  const code = msg.params[1] || "";
  const o = state.options;
  o.register = false;
  error(`The account could not be created: ${msg.params[msg.params.length - 1] || code}`, serverBuffer());
  if (code !== "ACCOUNT_EXISTS") {
    o.saslPass = "";
    saveSecrets({ ...loadSecrets(), saslPass: "" });
    save();
  }
  if (state.registerPending) {
    state.registerPending = false;
    capsDone(); // (logs in when the account exists: the password may be the right one)
  } else if (code === "ACCOUNT_EXISTS" && state.caps.has("sasl") && wantSasl()) {
    state.saslPending = true;
    sendCmd("AUTHENTICATE", "PLAIN");
  }
}
