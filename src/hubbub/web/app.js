// hubbub web client: IRC over WebSocket (IRCv3 text.ircv3.net), no build step, no dependencies.
// The page loads this module; it imports the others (ES modules, served as they are):
//   irc.js         IRC lines: parsing, building, case mapping, splitting long messages
//   state.js       the client's state, what is kept in localStorage, buffer look-ups
//   dom.js         tiny DOM helpers
//   format.js      mIRC formatting and links, drawn as elements (never HTML)
//   render.js      conversations on the page: list, header, members, message lines
//   numerics.js    server replies as sentences
//   connection.js  the WebSocket, reconnects, capabilities and SASL
//   events.js      what the server sends, applied to the state and the page
//   history.js     CHATHISTORY
//   commands.js    the message box and /commands
//   completion.js  Tab completion
//
// Everything a user, a nick, a topic or a server sends is put on the page with textContent or

// as a text node, never as HTML; the page's Content-Security-Policy forbids inline script too.

import { parseLine, buildLine, splitMessage } from "./irc.js";
import { $ } from "./dom.js";
import { redrawAll } from "./format.js";
import { SERVER_KEY, state, save, loadSettings, saveSettings, load, isChannel, activeBuffer } from "./state.js";
import { renderBufferList, switchTo, serverBuffer, closePanels, togglePanel } from "./render.js";
import { connect } from "./connection.js";
import { historyAvailable, requestOlder } from "./history.js";
import { receive } from "./events.js";
import { joinOrOpen, leave, onInput } from "./commands.js";
import { setupCompletion } from "./completion.js";

// --- login ------------------------------------------------------------------------------

function onLogin(event) {
  event.preventDefault();
  const nick = $("nick").value.trim();
  if (!nick || /[\s,*?!@:]/.test(nick) || /^[#&$:0-9-]/.test(nick)) {
    $("login-error").textContent = "Choose a nickname: letters, digits and []\\`_^{|}-, no spaces.";
    return;
  }
  const channels = $("channels")
    .value.split(/[\s,]+/)
    .map((c) => c.trim())
    .filter(Boolean)
    .map((c) => (isChannel(c) ? c : "#" + c));
  state.options = {
    nick,
    channels,
    password: $("server-password").value,
    saslUser: $("sasl-user").value.trim(),
    saslPass: $("sasl-pass").value,
  };
  state.nick = nick;
  state.userQuit = false;
  state.attempt = 0;
  $("login").hidden = true;
  $("chat").hidden = false;
  $("my-nick").textContent = nick;
  serverBuffer();
  switchTo(state.buffers.has(state.active) ? state.active : SERVER_KEY);
  save();
  connect();
}

function init() {
  $("server-host").textContent = location.host;
  const saved = load();
  if (saved.nick) $("nick").value = saved.nick;
  $("channels").value = saved.channels && saved.channels.length ? saved.channels.join(", ") : "#hubbub";
  $("login-form").addEventListener("submit", onLogin);
  $("input-form").addEventListener("submit", onInput);
  setupCompletion($("input"));
  loadSettings();
  $("show-formatting").checked = state.showFormatting;
  $("show-formatting").addEventListener("change", (e) => {
    state.showFormatting = e.target.checked;
    saveSettings();
    redrawAll();
  });
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
    connect();
  });
  $("messages").addEventListener("scroll", () => {
    const buffer = activeBuffer();
    if ($("messages").scrollTop === 0 && buffer && buffer.kind !== "server" && historyAvailable()) requestOlder(buffer);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      const buffer = activeBuffer();
      if (buffer && buffer.unread) {
        buffer.unread = 0;
        buffer.highlight = false;
        renderBufferList();
      }
    }
  });
  $("nick").focus();
}

// Exposed for tests and debugging only; nothing on the page calls it.
window.hubbub = { parseLine, buildLine, splitMessage, receive, state };

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
