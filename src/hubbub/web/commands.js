// The message box: sending messages and running /commands.

import { splitMessage } from "./irc.js";
import { $ } from "./dom.js";
import { state, save, isChannel, keyOf, activeBuffer } from "./state.js";
import { ensureBuffer, removeBuffer, switchTo, show, info, error } from "./render.js";
import { send, sendCmd } from "./connection.js";
import { requestOlder } from "./history.js";
import { search, searchAvailable } from "./search.js";
import { messageSent } from "./typing.js";

// --- user input -------------------------------------------------------------------------

function sendMessage(target, text, action) {
  const buffer = ensureBuffer(target);
  messageSent(buffer);
  // Room for ":nick!user@host PRIVMSG target :" plus CR LF, with a generous host.
  const room = 510 - (target.length + state.nick.length + 100) - (action ? 9 : 0);
  for (const piece of splitMessage(text, Math.max(room, 64))) {
    const body = action ? `\x01ACTION ${piece}\x01` : piece;
    sendCmd("PRIVMSG", target, body);
    if (!state.caps.has("echo-message")) {
      show(buffer, action ? "action" : "privmsg", state.nick, piece, { self: true });
    }
  }
}

export function joinOrOpen(name) {
  const target = name.trim();
  if (!target) return;
  if (isChannel(target)) {
    const key = keyOf(target);
    const existing = state.buffers.get(key);
    if (existing && existing.joined) {
      switchTo(key);
      return;
    }
    state.pendingJoins.add(key);
    sendCmd("JOIN", target);
  } else {
    switchTo(ensureBuffer(target, "query").key);
  }
}

export function leave(buffer, reason) {
  if (buffer.kind === "channel" && buffer.joined) {
    if (reason) sendCmd("PART", buffer.name, reason);
    else sendCmd("PART", buffer.name);
  } else {
    removeBuffer(buffer);
  }
}

const HELP = [
  "/join #channel — join a channel",
  "/part [reason] — leave this channel",
  "/msg nick text — send a private message",
  "/query nick — open a conversation",
  "/me text — an action",
  "/nick newnick — change your nickname",
  "/topic text — set this channel's topic",
  "/away [text] and /back — set or clear your away message",
  "/whois nick — who is that",
  "/whowas nick — who was that (someone who has left)",
  "/close — leave this channel or close this conversation",
  "/older — load older messages (when the server keeps history)",
  "/search words — search this conversation (when the server offers search)",
  "/quote LINE — send a raw IRC line",
  "/quit [reason] — disconnect",
];

// The commands runCommand knows, offered by Tab completion (the aliases j, leave and raw
// work but are not offered).
export const COMMANDS = [
  "away", "back", "close", "help", "join", "me", "msg", "nick", "older", "part", "query",
  "quit", "quote", "search", "topic", "whois", "whowas",
];

function runCommand(text) {
  const buffer = activeBuffer();
  const space = text.indexOf(" ");
  const cmd = (space < 0 ? text.slice(1) : text.slice(1, space)).toLowerCase();
  const arg = space < 0 ? "" : text.slice(space + 1).trim();
  const [first, ...restWords] = arg.split(/\s+/);
  const rest = restWords.join(" ");
  switch (cmd) {
    case "join":
    case "j":
      if (first) joinOrOpen(first.split(",")[0]);
      return;
    case "part":
    case "leave":
      if (first && isChannel(first)) {
        sendCmd("PART", first, ...(rest ? [rest] : []));
      } else if (buffer.kind === "channel") {
        leave(buffer, arg);
      }
      return;
    case "close":
      leave(buffer, arg);
      return;
    case "msg":
    case "query":
      if (!first) return;
      if (cmd === "msg" && rest) sendMessage(first, rest, false);
      if (!isChannel(first) || cmd === "query") switchTo(ensureBuffer(first).key);
      return;
    case "me":
      if (buffer.kind !== "server" && arg) sendMessage(buffer.name, arg, true);
      return;
    case "nick":
      if (first) sendCmd("NICK", first);
      return;
    case "topic":
      if (buffer.kind === "channel") {
        if (arg) sendCmd("TOPIC", buffer.name, arg);
        else sendCmd("TOPIC", buffer.name);
      }
      return;
    case "away":
      sendCmd("AWAY", arg || "Away");
      return;
    case "back":
      send("AWAY");
      return;
    case "whois":
      if (first) sendCmd("WHOIS", first);
      return;
    case "whowas":
      if (first) sendCmd("WHOWAS", first);
      return;
    case "older":
      requestOlder(buffer);
      return;
    case "search":
      if (!searchAvailable()) error("This server does not offer search", buffer);
      else if (arg) search(arg, buffer.kind === "server" ? "" : buffer.name);
      return;
    case "quote":
    case "raw":
      if (arg) send(arg.replace(/[\r\n\0]+/g, " "));
      return;
    case "quit":
      state.userQuit = true;
      save(); // (a reload now shows the form)
      sendCmd("QUIT", arg || "Leaving");
      return;
    case "help":
      for (const line of HELP) info(line, buffer);
      return;
    default:
      error(`Unknown command /${cmd}; type /help for the list`, buffer);
  }
}

export function onInput(event) {
  event.preventDefault();
  const input = $("input");
  const text = input.value.replace(/[\r\n\0]+/g, " ");
  if (!text.trim()) return;
  input.value = "";
  if (text.startsWith("/") && !text.startsWith("//")) {
    runCommand(text);
    return;
  }
  const body = text.startsWith("//") ? text.slice(1) : text;
  const buffer = activeBuffer();
  if (buffer.kind === "server") {
    error("This is the server window: join a channel first (/join #channel)", buffer);
    return;
  }
  if (!state.registered) {
    error("Not connected; your message was not sent", buffer);
    input.value = text;
    return;
  }
  sendMessage(buffer.name, body, false);
}
