// The message box: sending messages and running /commands.

import { splitMessage } from "./irc.js";
import { $ } from "./dom.js";
import { state, save, isChannel, keyOf, activeBuffer } from "./state.js";
import { ensureBuffer, removeBuffer, switchTo, show, info, error } from "./render.js";
import { send, sendCmd } from "./connection.js";
import { requestOlder } from "./history.js";
import { search, searchAvailable } from "./search.js";
import { messageSent } from "./typing.js";
import { CAP as MULTILINE, multilineBatch, parseLimits, textLines, joinPieces } from "./multiline.js";

const MAX_INPUT_ROWS = 6; // the message box grows with its lines up to this many, then scrolls

// --- user input -------------------------------------------------------------------------

/** Bytes of text one PRIVMSG to target may carry once the server adds our prefix. */
function roomFor(target, action) {
  // Room for ":nick!user@host PRIVMSG target :" plus CR LF, with a generous host.
  return Math.max(510 - (target.length + state.nick.length + 100) - (action ? 9 : 0), 64);
}

function sendMessage(target, text, action) {
  const buffer = ensureBuffer(target);
  messageSent(buffer);
  for (const piece of splitMessage(text, roomFor(target, action))) {
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

/**
 * Several lines (typed with Shift+Enter, or pasted): one draft/multiline message when the
 * server offers it, else one message per line. False (the text stays in the box) when the
 * server's limits refuse it.
 */
function sendLines(buffer, lines) {
  const target = buffer.name;
  messageSent(buffer);
  if (!(state.caps.has(MULTILINE) && state.caps.has("batch"))) {
    for (const line of lines) if (line.trim()) sendMessage(target, line, false);
    return true;
  }
  const limits = parseLimits(state.available.get(MULTILINE));
  const batch = multilineBatch(target, lines, roomFor(target, false), limits);
  if (batch.tooLong) {
    error(`Not sent: this message is too long (${batch.tooLong}). Shorten it, or send it in parts.`, buffer);
    return false;
  }
  for (const line of batch.lines) send(line);
  if (!state.caps.has("echo-message")) {
    show(buffer, "privmsg", state.nick, joinPieces(batch.pieces), { self: true });
  }
  return true;
}

/** The message box as tall as its lines, up to MAX_INPUT_ROWS. */
export function fitInput() {
  const input = $("input");
  const rows = Math.min(MAX_INPUT_ROWS, input.value.split("\n").length);
  if (input.rows !== rows) input.rows = rows;
}

/** Enter sends, Shift+Enter starts a new line (as does a paste of several lines). */
export function onInputKeydown(event) {
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  $("input-form").requestSubmit();
}

export function onInput(event) {
  event.preventDefault();
  const input = $("input");
  const raw = input.value;
  if (!raw.trim()) return;
  const command = raw.startsWith("/") && !raw.startsWith("//");
  const lines = command ? [raw.trim().replace(/[\r\n\0]+/g, " ")] : textLines(raw.replace(/\0/g, ""));
  input.value = "";
  fitInput();
  if (command) {
    runCommand(lines[0]);
    return;
  }
  if (lines[0].startsWith("//")) lines[0] = lines[0].slice(1);
  const buffer = activeBuffer();
  const keep = () => {
    input.value = raw;
    fitInput();
  };
  if (buffer.kind === "server") {
    error("This is the server window: join a channel first (/join #channel)", buffer);
    return;
  }
  if (!state.registered) {
    error("Not connected; your message was not sent", buffer);
    keep();
    return;
  }
  if (lines.length === 1) sendMessage(buffer.name, lines[0], false);
  else if (!sendLines(buffer, lines)) keep();
}
