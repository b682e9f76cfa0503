// What the server sends, applied to the state and the page.

import { parseLine, folder } from "./irc.js";
import { $ } from "./dom.js";
import { drawText } from "./format.js";
import { SERVER_KEY, state, save, isChannel, getBuffer, activeBuffer, isMe } from "./state.js";
import { ensureBuffer, renameBuffer, renderBufferList, switchTo, renderHeader, renderMembers, messageTime, show, serverBuffer, info, error, mentions, setStatus } from "./render.js";
import { sendCmd, handleCap, handleAuthenticate, saslDone, handleRegisterReply, registerFailed, registerAfterConnect } from "./connection.js";
import { requestHistory, openQuery, requestTargets, handleBatch, collect, historyFailed, handleMarkread } from "./history.js";
import { searchFailed, renderSearchBox } from "./search.js";
import { handleTagmsg, clearTyping } from "./typing.js";
import { showNumericSentence } from "./numerics.js";

// --- handling server messages -----------------------------------------------------------
function applyIsupport(tokens) {
  for (const token of tokens) {
    if (!token) continue;
    const neg = token.startsWith("-");
    const eq = token.indexOf("=");
    const name = (neg ? token.slice(1) : eq < 0 ? token : token.slice(0, eq)).toUpperCase();
    if (neg) {
      delete state.isupport[name];
      continue;
    }
    const value = eq < 0 ? "" : token.slice(eq + 1).replace(/\\x20/g, " ");
    state.isupport[name] = value;
    if (name === "PREFIX") {
      const m = /^\(([^)]*)\)(.*)$/.exec(value);
      if (m) {
        state.prefixModes = m[1];
        state.prefixChars = m[2];
      }
    } else if (name === "CHANTYPES") {
      state.chanTypes = value || "#";
    } else if (name === "STATUSMSG") {
      state.statusMsg = value;
    } else if (name === "CHANMODES") {
      const parts = value.split(",");
      while (parts.length < 4) parts.push("");
      state.chanModes = parts;
    } else if (name === "CASEMAPPING") {
      state.fold = folder(value);
    } else if (name === "NETWORK") {
      state.network = value;
      renderBufferList();
      renderHeader();
    }
  }
}

function splitPrefixes(entry) {
  let i = 0;
  while (i < entry.length && state.prefixChars.includes(entry[i])) i += 1;
  let nick = entry.slice(i);
  const bang = nick.indexOf("!");
  if (bang >= 0) nick = nick.slice(0, bang);
  return { prefixes: entry.slice(0, i), nick };
}

function addMember(buffer, nick, prefixes) {
  const key = state.fold(nick);
  const existing = buffer.members.get(key);
  buffer.members.set(key, { nick, prefixes: prefixes || "", away: existing ? existing.away : false });
}

function noteSpoke(buffer, nick, time) {
  const key = state.fold(nick);
  buffer.spoke.set(key, Math.max(time, buffer.spoke.get(key) || 0));
}

function membersChanged(buffer) {
  if (buffer.key === state.active) renderMembers();
}

function targetBuffer(msg, target) {
  // A message to a channel goes to it; a private one to a conversation with the other side.
  let name = target;
  while (name && state.statusMsg.includes(name[0]) && isChannel(name.slice(1))) name = name.slice(1);
  if (isChannel(name)) return ensureBuffer(name, "channel");
  if (!msg.source || !msg.source.includes("!")) return serverBuffer();
  if (isMe(msg.nick)) return ensureBuffer(target, "query"); // our own, echoed
  const buffer = ensureBuffer(msg.nick, "query");
  if (buffer.name !== msg.nick) renameBuffer(buffer, msg.nick); // (as they spell it now)
  return buffer;
}

// Automatic CTCP answers (VERSION, PING): 3 at once, then one per 5 seconds; the rest go
// unanswered. Unpaced, a few users sending CTCPs (or one, to a channel of web clients) made
// the page send more than the server's flood control lets through, and it was disconnected.
const CTCP_BURST = 3;
const CTCP_EVERY_MS = 5000;
let ctcpTokens = CTCP_BURST;
let ctcpTime = 0;

function mayAnswerCtcp() {
  const now = Date.now();
  ctcpTokens = Math.min(CTCP_BURST, ctcpTokens + (now - ctcpTime) / CTCP_EVERY_MS);
  ctcpTime = now;
  if (ctcpTokens < 1) return false;
  ctcpTokens -= 1;
  return true;
}

/**
 * A PRIVMSG or NOTICE: shown in its conversation. From history, historyBuffer is the
 * conversation the batch is for, and the line is returned to be put in its place.
 * Returns the line (null: a duplicate or a CTCP).
 */
export function handleMessage(msg, historyBuffer = null) {
  const target = msg.params[0] || "";
  let text = msg.params[1] || "";
  const history = historyBuffer !== null;
  const buffer = historyBuffer || (target === "*" ? serverBuffer() : targetBuffer(msg, target));
  let kind = msg.command === "NOTICE" ? "notice" : "privmsg";
  if (text.startsWith("\x01")) {
    const body = text.replace(/^\x01|\x01$/g, "");
    const space = body.indexOf(" ");
    const verb = (space < 0 ? body : body.slice(0, space)).toUpperCase();
    const arg = space < 0 ? "" : body.slice(space + 1);
    if (verb === "ACTION") {
      kind = "action";
      text = arg;
    } else {
      if (msg.command === "PRIVMSG" && !history && !isMe(msg.nick) && mayAnswerCtcp()) {
        if (verb === "VERSION") sendCmd("NOTICE", msg.nick, "\x01VERSION hubbub web client\x01");
        else if (verb === "PING") sendCmd("NOTICE", msg.nick, `\x01PING ${arg.slice(0, 64)}\x01`);
      }
      return null;
    }
  }
  const self = isMe(msg.nick);
  if (buffer.kind === "channel" && msg.nick) noteSpoke(buffer, msg.nick, messageTime(msg));
  if (!history && msg.nick) clearTyping(buffer, msg.nick);
  const line = show(buffer, kind, msg.nick || msg.source || "*", text, {
    time: messageTime(msg),
    stamp: msg.tags.time,
    msgid: msg.tags.msgid,
    self,
    history,
    highlight: !self && buffer.kind === "channel" && mentions(text),
  });
  if (!history && buffer.kind === "query" && !buffer.historyRequested) openQuery(buffer);
  return line;
}

function handleJoin(msg) {
  const channel = msg.params[0];
  const buffer = ensureBuffer(channel, "channel");
  if (isMe(msg.nick)) {
    buffer.joined = true;
    buffer.name = channel;
    buffer.members.clear();
    state.wantJoined.delete(buffer.key);
    state.options.channels = state.options.channels.filter((c) => state.fold(c) !== buffer.key);
    const asked = state.pendingJoins.has(buffer.key);
    state.pendingJoins.delete(buffer.key);
    renderBufferList();
    const wanted = state.wantActive === null || state.wantActive === buffer.key;
    if (asked || (state.active === SERVER_KEY && wanted)) switchTo(buffer.key);
    else if (buffer.key === state.active) renderHeader();
    show(buffer, "join", null, `You joined ${channel}`, { time: messageTime(msg) });
    if (!buffer.historyRequested) requestHistory(buffer);
    if (state.caps.has("away-notify")) {
      // Who is away already: away-notify only tells us about changes from now on.
      state.pendingWho.add(buffer.key);
      sendCmd("WHO", channel);
    }
    save();
    return;
  }
  addMember(buffer, msg.nick, "");
  membersChanged(buffer);
  show(buffer, "join", null, `${msg.nick} joined`, { time: messageTime(msg) });
}

function handlePart(msg) {
  const buffer = getBuffer(msg.params[0]);
  if (!buffer) return;
  const reason = msg.params[1] ? ` (${msg.params[1]})` : "";
  if (isMe(msg.nick)) {
    leaveBuffer(buffer, `You left ${buffer.name}${reason}`, msg);
    return;
  }
  removeMember(buffer, msg.nick, `${msg.nick} left${reason}`, msg);
}

// We are no longer in this channel (PART or KICK): keep its buffer, empty its members.
function leaveBuffer(buffer, text, msg) {
  buffer.joined = false;
  buffer.members.clear();
  show(buffer, "part", null, text, { time: messageTime(msg) });
  renderBufferList();
  if (buffer.key === state.active) {
    renderHeader();
    renderMembers();
  }
  save();
}

function removeMember(buffer, nick, text, msg) {
  clearTyping(buffer, nick);
  buffer.members.delete(state.fold(nick));
  buffer.spoke.delete(state.fold(nick));
  membersChanged(buffer);
  show(buffer, "part", null, text, { time: messageTime(msg) });
}

function handleKick(msg) {
  const buffer = getBuffer(msg.params[0]);
  if (!buffer) return;
  const victim = msg.params[1] || "";
  const reason = msg.params[2] ? ` (${msg.params[2]})` : "";
  if (isMe(victim)) {
    leaveBuffer(buffer, `You were kicked by ${msg.nick}${reason}`, msg);
    return;
  }
  removeMember(buffer, victim, `${victim} was kicked by ${msg.nick}${reason}`, msg);
}

function handleQuit(msg) {
  const key = state.fold(msg.nick || "");
  const reason = msg.params[0] ? ` (${msg.params[0]})` : "";
  for (const buffer of state.buffers.values()) {
    clearTyping(buffer, msg.nick || "");
    if (buffer.kind === "channel") buffer.spoke.delete(key);
    if ((buffer.kind === "channel" && buffer.members.delete(key)) || (buffer.kind === "query" && buffer.key === key)) {
      show(buffer, "quit", null, `${msg.nick} quit${reason}`, { time: messageTime(msg) });
      membersChanged(buffer);
    }
  }
}

function handleNick(msg) {
  const old = msg.nick || "";
  const now = msg.params[0] || "";
  const oldKey = state.fold(old);
  const me = isMe(old);
  if (me) {
    state.nick = now;
    $("my-nick").textContent = now;
    if (state.options) state.options.nick = now;
    save();
  }
  for (const buffer of [...state.buffers.values()]) {
    if (buffer.kind === "channel") {
      const member = buffer.members.get(oldKey);
      if (!member) continue;
      buffer.members.delete(oldKey);
      addMember(buffer, now, member.prefixes);
      if (buffer.spoke.has(oldKey)) {
        buffer.spoke.set(state.fold(now), buffer.spoke.get(oldKey));
        buffer.spoke.delete(oldKey);
      }
      show(buffer, "nick", null, me ? `You are now known as ${now}` : `${old} is now known as ${now}`, { time: messageTime(msg) });
      membersChanged(buffer);
    } else if (buffer.kind === "query" && buffer.key === oldKey) {
      show(buffer, "nick", null, `${old} is now known as ${now}`, { time: messageTime(msg) });
      renameBuffer(buffer, now);
    }
  }
  if (me) info(`You are now known as ${now}`);
}

function handleMode(msg) {
  const target = msg.params[0] || "";
  if (!isChannel(target)) {
    if (isMe(target)) info(`Your modes: ${msg.params.slice(1).join(" ")}`);
    return;
  }
  const buffer = getBuffer(target);
  if (!buffer) return;
  const modes = msg.params[1] || "";
  const args = msg.params.slice(2);
  let sign = "+";
  let changed = false;
  for (const ch of modes) {
    if (ch === "+" || ch === "-") {
      sign = ch;
      continue;
    }
    const p = state.prefixModes.indexOf(ch);
    if (p >= 0) {
      const nick = args.shift();
      if (!nick) continue;
      const member = buffer.members.get(state.fold(nick));
      if (!member) continue;
      const symbol = state.prefixChars[p];
      let prefixes = member.prefixes.replace(symbol, "");
      if (sign === "+") prefixes += symbol;
      member.prefixes = [...prefixes].sort((a, b) => state.prefixChars.indexOf(a) - state.prefixChars.indexOf(b)).join("");
      changed = true;
    } else if (state.chanModes[0].includes(ch) || state.chanModes[1].includes(ch)) {
      args.shift();
    } else if (state.chanModes[2].includes(ch) && sign === "+") {
      args.shift();
    }
  }
  if (changed) membersChanged(buffer);
  show(buffer, "mode", null, `${msg.nick} sets mode ${msg.params.slice(1).join(" ")}`, { time: messageTime(msg) });
}

function handleTopic(msg) {
  const buffer = getBuffer(msg.params[0]);
  if (!buffer) return;
  buffer.topic = msg.params[1] || "";
  if (buffer.key === state.active) renderHeader();
  const text = buffer.topic ? `${msg.nick} changed the topic to: ${buffer.topic}` : `${msg.nick} cleared the topic`;
  show(buffer, "topic", null, text, { time: messageTime(msg) });
}

function handleAway(msg) {
  const key = state.fold(msg.nick || "");
  const away = msg.params.length > 0;
  for (const buffer of state.buffers.values()) {
    const member = buffer.members.get(key);
    if (member) {
      member.away = away;
      membersChanged(buffer);
    }
  }
}

function handleRegistered(msg) {
  state.registered = true;
  state.attempt = 0;
  state.nick = msg.params[0] || state.nick; // options.nick stays the one asked for
  $("my-nick").textContent = state.nick;
  setStatus("connected", "online");
  $("reconnect-button").hidden = true;
  const channels = new Map(); // folded -> name as typed
  for (const key of state.wantJoined) {
    const buffer = state.buffers.get(key);
    if (buffer) channels.set(key, buffer.name);
  }
  // (options.channels loses each one as it is joined: what is left is tried again next time)
  for (const name of state.options.channels) channels.set(state.fold(name), name);
  state.wantJoined.clear();
  const names = [...channels.values()];
  // Several JOINs of at most ~400 bytes each, so a long list never makes an over-long line.
  let batch = [];
  for (const name of names) {
    if (batch.length && batch.join(",").length + name.length > 400) {
      sendCmd("JOIN", batch.join(","));
      batch = [];
    }
    batch.push(name);
  }
  if (batch.length) sendCmd("JOIN", batch.join(","));
  for (const buffer of state.buffers.values()) {
    if (buffer.kind === "query") openQuery(buffer);
  }
  requestTargets();
  registerAfterConnect();
  renderSearchBox();
  renderHeader();
  if (!isMe(state.options.nick)) {
    // We got another nick (ours was still taken, by our own previous connection after a
    // reload perhaps): try ours again once, quietly.
    setTimeout(() => {
      if (!state.registered || isMe(state.options.nick)) return;
      state.reclaimingNick = true;
      sendCmd("NICK", state.options.nick);
    }, 3000);
  }
}

function numericText(msg) {
  return msg.params.slice(1).join(" ");
}
/** An error reply as "<what>: <why>" ("dave: No such nick/channel"). */
function errorText(msg) {
  const p = msg.params;
  const about = p.slice(1, -1).join(" ");
  return about ? `${about}: ${p[p.length - 1]}` : p[p.length - 1] || msg.command;
}

function handleNumeric(msg) {
  const code = msg.command;
  const p = msg.params;
  switch (code) {
    case "001":
      handleRegistered(msg);
      info(numericText(msg));
      return;
    case "005":
      applyIsupport(p.slice(1, -1));
      return;
    case "331": {
      const buffer = getBuffer(p[1]);
      if (buffer) {
        buffer.topic = "";
        if (buffer.key === state.active) renderHeader();
      }
      return;
    }
    case "332": {
      const buffer = ensureBuffer(p[1], "channel");
      buffer.topic = p[2] || "";
      if (buffer.key === state.active) renderHeader();
      show(buffer, "topic", null, `Topic: ${buffer.topic}`);
      return;
    }
    case "353": {
      const buffer = ensureBuffer(p[2], "channel");
      if (!buffer.names) buffer.names = new Map();
      for (const entry of (p[3] || "").split(" ")) {
        if (!entry) continue;
        const { prefixes, nick } = splitPrefixes(entry);
        buffer.names.set(state.fold(nick), { nick, prefixes, away: false });
      }
      return;
    }
    case "366": {
      const buffer = getBuffer(p[1]);
      if (buffer && buffer.names) {
        buffer.members = buffer.names;
        buffer.names = null;
        membersChanged(buffer);
      }
      return;
    }
    case "432":
    case "433":
      if (!state.registered) {
        const base = (state.options.nick || "guest").slice(0, 20);
        state.nick = base + "_" + Math.floor(Math.random() * 1000);
        info(`${p[1] || base}: ${p[2] || "nickname unavailable"}; trying ${state.nick}`);
        sendCmd("NICK", state.nick);
        return;
      }
      if (state.reclaimingNick) {
        state.reclaimingNick = false; // (still taken: we keep the one we have)
        return;
      }
      error(`${p[1]}: ${p[2] || "nickname unavailable"}`);
      return;
    case "464":
    case "465":
      state.fatal = p[p.length - 1] || "Refused by the server";
      return;
    case "900":
      info(p[3] || `You are logged in as ${p[2]}`);
      return;
    case "903":
      saslDone(true, p[1] || "Authentication successful");
      return;
    case "902":
    case "904":
    case "905":
    case "906":
    case "907":
      saslDone(false, p[p.length - 1] || "authentication failed");
      return;
    case "908":
      return;
    case "352": {
      const key = state.fold(p[1] || "");
      if (!state.pendingWho.has(key)) break; // someone's /who: a sentence below
      const buffer = getBuffer(p[1]);
      const member = buffer && buffer.members.get(state.fold(p[5] || ""));
      if (member) member.away = (p[6] || "").startsWith("G");
      return;
    }
    case "315": {
      const key = state.fold(p[1] || "");
      if (!state.pendingWho.has(key)) break;
      state.pendingWho.delete(key);
      const buffer = getBuffer(p[1]);
      if (buffer) membersChanged(buffer);
      return;
    }
    case "372":
    case "375":
    case "376":
      info(p[1] || "");
      return;
    default:
      break;
  }
  if (showNumericSentence(msg)) return;
  if (/^[45]\d\d$/.test(code)) {
    error(errorText(msg));
  } else if (["311", "312", "313", "317", "318", "319", "330", "338", "378", "671", "301"].includes(code)) {
    info(numericText(msg), activeBuffer());
  } else {
    info(numericText(msg));
  }
}

/** Handle one line from the server. */
export function receive(raw) {
  const msg = parseLine(raw);
  if (msg) handle(msg);
}

function handle(msg) {
  if (msg.command !== "BATCH" && collect(msg)) return; // (handled when its batch ends)
  if (/^\d{3}$/.test(msg.command)) {
    handleNumeric(msg);
    return;
  }
  switch (msg.command) {
    case "PING":
      sendCmd("PONG", msg.params[0] || "");
      return;
    case "CAP":
      handleCap(msg);
      return;
    case "AUTHENTICATE":
      handleAuthenticate(msg);
      return;
    case "PRIVMSG":
    case "NOTICE":
      handleMessage(msg);
      return;
    case "JOIN":
      handleJoin(msg);
      return;
    case "PART":
      handlePart(msg);
      return;
    case "KICK":
      handleKick(msg);
      return;
    case "QUIT":
      handleQuit(msg);
      return;
    case "NICK":
      handleNick(msg);
      return;
    case "MODE":
      handleMode(msg);
      return;
    case "TOPIC":
      handleTopic(msg);
      return;
    case "AWAY":
      handleAway(msg);
      return;
    case "BATCH":
      handleBatch(msg);
      return;
    case "MARKREAD":
      handleMarkread(msg);
      return;
    case "TAGMSG":
      handleTagmsg(msg);
      return;
    case "REDACT":
      handleRedact(msg);
      return;
    case "REGISTER":
      handleRegisterReply(msg);
      return;
    case "INVITE":
      info(`${msg.nick} invites you to ${msg.params[1]} (type /join ${msg.params[1]})`, activeBuffer());
      return;
    case "ERROR":
      info(`Server closed the connection: ${msg.params[0] || ""}`);
      return;
    case "FAIL":
    case "WARN":
    case "NOTE": {
      const text = msg.params[msg.params.length - 1] || "";
      if (msg.command === "FAIL") {
        const about = (msg.params[0] || "").toUpperCase();
        if (about === "CHATHISTORY") return historyFailed(msg);
        if (about === "SEARCH") return searchFailed(text);
        if (about === "REGISTER") return registerFailed(msg);
        if (about === "MARKREAD") return; // (a best effort: nothing to tell)
      }
      if (msg.command === "FAIL") error(`${msg.params[0]}: ${text}`);
      else info(`${msg.params[0]}: ${text}`);
      return;
    }
    default:
      return;
  }
}

/** REDACT <target> <msgid> [reason]: a message was deleted; its line says so. */
function handleRedact(msg) {
  const msgid = msg.params[1];
  if (!msgid) return;
  for (const buffer of state.buffers.values()) {
    for (const line of buffer.log.querySelectorAll(".msg[data-msgid]")) {
      if (line.dataset.msgid !== msgid) continue;
      const text = line.querySelector(".text");
      const reason = msg.params[2] ? ` (${msg.params[2]})` : "";
      if (text) drawText(text, `(message deleted by ${msg.nick || "the server"}${reason})`);
      line.classList.add("redacted");
    }
  }
}
