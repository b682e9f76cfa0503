// hubbub web client: IRC over WebSocket (IRCv3 text.ircv3.net), no build step, no dependencies.
// The page loads this module; it imports the others (ES modules, served as they are):
//   irc.js         IRC lines: parsing, building, tag values, case mapping, splitting
//   state.js       the client's state, what is kept in the browser's storage, buffer look-ups
//   dom.js         tiny DOM helpers
//   format.js      mIRC formatting and links, drawn as elements (never HTML)
//   render.js      conversations on the page: list, header, members, lines, unread counts
//   numerics.js    server replies as sentences
//   connection.js  the WebSocket, reconnects, capabilities, SASL, creating an account
//   events.js      what the server sends, applied to the state and the page
//   history.js     CHATHISTORY (join, reconnect, scrolling back) and read markers
//   search.js      searching what was said, and jumping to a result
//   typing.js      typing notifications, shown and sent
//   notify.js      browser notifications
//   commands.js    the message box and /commands
//   multiline.js   draft/multiline: several lines sent and shown as one message
//   completion.js  Tab completion
//
// Everything a user, a nick, a topic or a server sends is put on the page with textContent or
// as a text node, never as HTML; the page's Content-Security-Policy forbids inline script too.

import { parseLine, buildLine, splitMessage } from "./irc.js";
import { $ } from "./dom.js";
import { redrawAll } from "./format.js";
import {
  SERVER_KEY, state, save, load, loadMarkers, loadSecrets, saveSecrets, forgetSession, loadSettings, saveSettings,
  isChannel, keyOf, activeBuffer,
} from "./state.js";
import { ensureBuffer, switchTo, serverBuffer, closePanels, togglePanel, nearBottom, placeUnreadLine, recountUnread } from "./render.js";
import { connect, sendCmd } from "./connection.js";
import { requestOlder, maybeMarkRead } from "./history.js";
import { receive } from "./events.js";
import { joinOrOpen, leave, onInput, onInputKeydown, fitInput } from "./commands.js";
import { setupCompletion } from "./completion.js";
import { setupSearch } from "./search.js";
import { onTypingInput } from "./typing.js";
import { askPermission, askPermissionOnce, permissionText } from "./notify.js";

// --- signing in -------------------------------------------------------------------------

function channelList(text) {
  return text
    .split(/[\s,]+/)
    .map((c) => c.trim())
    .filter(Boolean)
    .map((c) => (isChannel(c) ? c : "#" + c));
}

function onLogin(event) {
  event.preventDefault();
  const nick = $("nick").value.trim();
  if (!nick || /[\s,*?!@:]/.test(nick) || /^[#&$:0-9-]/.test(nick)) {
    $("login-error").textContent = "Choose a nickname: letters, digits and []\\`_^{|}-, no spaces.";
    return;
  }
  const register = $("sasl-register").checked;
  const saslUser = $("sasl-user").value.trim() || (register ? nick : "");
  const saslPass = $("sasl-pass").value;
  if (register && !saslPass) {
    $("login-error").textContent = "Choose a password for the new account.";
    return;
  }
  const saved = load();
  askPermissionOnce(); // (a click: the one moment a browser lets a page ask)
  start({
    nick,
    channels: channelList($("channels").value),
    // The conversations of last time, if this is the same person coming back.
    queries: saved.nick === nick ? saved.queries || [] : [],
    active: saved.nick === nick ? saved.active || "" : "",
    password: $("server-password").value,
    saslUser: saslPass ? saslUser : "",
    saslPass,
    register,
    email: $("sasl-email").value.trim(),
  });
}

/** Connect with these options, showing the conversations of last time right away. */
function start(options) {
  state.options = { ...options, channels: [...options.channels] };
  saveSecrets({ password: options.password || "", saslPass: options.saslPass || "" });
  loadMarkers(load());
  state.nick = options.nick;
  state.userQuit = false;
  state.signingOut = false;
  state.attempt = 0;
  $("login").hidden = true;
  $("chat").hidden = false;
  $("my-nick").textContent = options.nick;
  serverBuffer();
  for (const name of options.queries || []) ensureBuffer(name, "query");
  const wanted = options.active ? keyOf(options.active) : null;
  if (wanted && state.buffers.has(wanted)) {
    switchTo(wanted);
  } else {
    switchTo(state.buffers.has(state.active) ? state.active : SERVER_KEY);
    state.wantActive = wanted; // (a channel: shown once joined)
  }
  save();
  connect();
}

function showForm(saved, message) {
  if (saved.nick) $("nick").value = saved.nick;
  $("channels").value = saved.channels && saved.channels.length ? saved.channels.join(", ") : "#hubbub";
  if (saved.account) {
    $("auth").open = true;
    $("sasl-user").value = saved.account;
  }
  $("login-error").textContent = message || "";
  $("login").hidden = false;
  (saved.account && message ? $("sasl-pass") : $("nick")).focus();
}

/**
 * A reload (or a new visit) after signing in: back to the same conversations without the
 * form. An account needs its password, which only this tab's sessionStorage keeps: a new tab
 * (or a browser restarted) shows the form to ask for it again.
 */
function resume(saved) {
  if (!saved.auto || !saved.nick) return false;
  const secrets = loadSecrets();
  if (saved.account && !secrets.saslPass) {
    showForm(saved, `Enter the password of ${saved.account} to sign in again.`);
    return true;
  }
  start({
    nick: saved.nick,
    channels: Array.isArray(saved.channels) ? saved.channels : [],
    queries: Array.isArray(saved.queries) ? saved.queries : [],
    active: saved.active || "",
    password: secrets.password || "",
    saslUser: saved.account || "",
    saslPass: secrets.saslPass || "",
    register: false,
    email: "",
  });
  return true;
}

/** Sign out: quit, forget the session (passwords included), back to the form. */
function signOut() {
  forgetSession();
  state.signingOut = true;
  if (state.ws) {
    sendCmd("QUIT", "Signed out");
    setTimeout(() => location.reload(), 2000); // (if the server does not close first)
  } else {
    location.reload();
  }
}

// --- settings ---------------------------------------------------------------------------

function setupSettings() {
  loadSettings();
  const formatting = $("show-formatting");
  formatting.checked = state.settings.formatting;
  formatting.addEventListener("change", () => {
    state.settings.formatting = formatting.checked;
    saveSettings();
    redrawAll();
  });
  const typing = $("send-typing");
  typing.checked = state.settings.typing;
  typing.addEventListener("change", () => {
    state.settings.typing = typing.checked;
    saveSettings();
  });
  const notify = $("notify");
  const hint = () => {
    notify.parentElement.title = permissionText();
  };
  notify.checked = state.settings.notify;
  hint();
  notify.addEventListener("change", () => {
    state.settings.notify = notify.checked;
    saveSettings();
    if (notify.checked) askPermission();
    hint();
  });
}

// --- reading: what counts as seen -------------------------------------------------------

function onSeen() {
  const buffer = activeBuffer();
  if (!buffer || buffer.kind === "server") return;
  if (document.visibilityState === "visible" && buffer.unread) {
    // Back to the page: the line goes where you stopped reading, then it counts as read.
    placeUnreadLine(buffer);
    recountUnread(buffer);
  }
  maybeMarkRead();
}

function init() {
  $("server-host").textContent = location.host;
  setupSettings();
  $("login-form").addEventListener("submit", onLogin);
  $("sasl-register").addEventListener("change", (e) => {
    $("sasl-email-row").hidden = !e.target.checked;
    $("sasl-pass").autocomplete = e.target.checked ? "new-password" : "current-password";
  });
  $("input-form").addEventListener("submit", onInput);
  $("input").addEventListener("input", onTypingInput);
  $("input").addEventListener("input", fitInput);
  $("input").addEventListener("keydown", onInputKeydown);
  setupCompletion($("input"));
  setupSearch();
  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("join-input");
    joinOrOpen(input.value);
    input.value = "";
  });
  $("part-button").addEventListener("click", () => leave(activeBuffer(), ""));
  $("toggle-sidebar").addEventListener("click", () => togglePanel("sidebar"));
  $("toggle-members").addEventListener("click", () => togglePanel("members"));
  $("scrim").addEventListener("click", closePanels);
  $("reconnect-button").addEventListener("click", () => {
    state.userQuit = false;
    state.attempt = 0;
    save();
    connect();
  });
  $("signout-button").addEventListener("click", signOut);
  const box = $("messages");
  box.addEventListener("scroll", () => {
    if (box.scrollTop < 40) requestOlder(activeBuffer());
    if (nearBottom()) maybeMarkRead();
  });
  box.addEventListener("wheel", (e) => {
    // (a log too short to scroll gets no scroll events)
    if (e.deltaY < 0 && box.scrollTop === 0) requestOlder(activeBuffer());
  });
  document.addEventListener("visibilitychange", onSeen);
  window.addEventListener("focus", onSeen);
  window.addEventListener("pagehide", () => {
    if (state.options) save();
  });
  if (!resume(load())) showForm(load());
}

// Exposed for tests and debugging only; nothing on the page calls it.
window.hubbub = { parseLine, buildLine, splitMessage, receive, state };

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
