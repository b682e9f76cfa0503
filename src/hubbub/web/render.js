// Conversations on the page: the list, the header, the member list and the message lines.

import { $, el, nickClass, two } from "./dom.js";
import { stripFormatting, appendFormatted, drawText } from "./format.js";
import { SERVER_KEY, MAX_LINES, state, save, isChannel, keyOf, activeBuffer } from "./state.js";
import { requestHistory } from "./history.js";

// --- buffers (conversations) ------------------------------------------------------------
export function ensureBuffer(name, kind) {
  const key = keyOf(name);
  let buffer = state.buffers.get(key);
  if (buffer) return buffer;
  buffer = {
    key,
    name,
    kind: kind || (isChannel(name) ? "channel" : "query"),
    topic: "",
    joined: false,
    unread: 0,
    highlight: false,
    members: new Map(), // folded nick -> {nick, prefixes, away}
    spoke: new Map(), // folded nick -> when they last spoke here (ms), for Tab completion
    names: null, // members being collected from RPL_NAMREPLY
    msgids: new Set(),
    oldest: null, // {msgid, time} of the oldest message shown, for CHATHISTORY BEFORE
    historyRequested: false,
    loadingOlder: false,
    historyExhausted: false,
    log: el("div", "log"),
    item: null,
  };
  buffer.log.dataset.buffer = name;
  buffer.log.hidden = true;
  $("messages").append(buffer.log);
  state.buffers.set(key, buffer);
  state.order.push(key);
  renderBufferList();
  return buffer;
}

export function removeBuffer(buffer) {
  if (buffer.kind === "server") return;
  buffer.log.remove();
  state.buffers.delete(buffer.key);
  state.order = state.order.filter((k) => k !== buffer.key);
  if (state.active === buffer.key) switchTo(SERVER_KEY);
  renderBufferList();
  save();
}

export function renameBuffer(buffer, name) {
  const key = keyOf(name);
  if (key === buffer.key) {
    buffer.name = name;
  } else if (!state.buffers.has(key)) {
    state.buffers.delete(buffer.key);
    state.order = state.order.map((k) => (k === buffer.key ? key : k));
    if (state.active === buffer.key) state.active = key;
    buffer.key = key;
    buffer.name = name;
    state.buffers.set(key, buffer);
  }
  buffer.log.dataset.buffer = buffer.name;
  renderBufferList();
  if (state.active === buffer.key) renderHeader();
}

function sortedBuffers() {
  const server = state.buffers.get(SERVER_KEY);
  const rest = state.order.map((k) => state.buffers.get(k)).filter((b) => b && b.kind !== "server");
  const channels = rest.filter((b) => b.kind === "channel").sort((a, b) => a.key.localeCompare(b.key));
  const queries = rest.filter((b) => b.kind === "query").sort((a, b) => a.key.localeCompare(b.key));
  return [server, ...channels, ...queries].filter(Boolean);
}

export function renderBufferList() {
  const list = $("buffers");
  const items = [];
  let lastKind = null;
  for (const buffer of sortedBuffers()) {
    if (buffer.kind !== lastKind && buffer.kind !== "server") {
      items.push(el("li", "section", buffer.kind === "channel" ? "Channels" : "Conversations"));
    }
    lastKind = buffer.kind;
    const li = el("li", "buffer");
    li.dataset.name = buffer.name;
    li.dataset.kind = buffer.kind;
    li.tabIndex = 0;
    li.setAttribute("role", "button");
    if (buffer.key === state.active) li.classList.add("active");
    if (buffer.kind === "channel" && !buffer.joined) li.classList.add("parted");
    const label = buffer.kind === "server" ? state.network || "Server" : buffer.name;
    li.append(el("span", "buffer-name", label));
    if (buffer.unread > 0) {
      const badge = el("span", buffer.highlight ? "unread highlight" : "unread", String(buffer.unread));
      badge.setAttribute("aria-label", buffer.unread + " unread");
      li.append(badge);
    }
    li.addEventListener("click", () => switchTo(buffer.key));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        switchTo(buffer.key);
      }
    });
    buffer.item = li;
    items.push(li);
  }
  list.replaceChildren(...items);
  updateTitle();
}

function updateTitle() {
  let total = 0;
  for (const b of state.buffers.values()) total += b.unread;
  document.title = (total ? `(${total}) ` : "") + "hubbub" + (state.network ? " – " + state.network : "");
  $("toggle-sidebar").classList.toggle("has-unread", total > 0);
}
export function switchTo(key) {
  const buffer = state.buffers.get(key);
  if (!buffer) return;
  const previous = state.buffers.get(state.active);
  if (previous) previous.log.hidden = true;
  state.active = key;
  buffer.log.hidden = false;
  buffer.unread = 0;
  buffer.highlight = false;
  renderBufferList();
  renderHeader();
  renderMembers();
  closePanels();
  scrollToBottom(true);
  if (buffer.kind === "query" && !buffer.historyRequested) requestHistory(buffer);
  if (window.matchMedia("(min-width: 700px)").matches) $("input").focus();
}

export function renderHeader() {
  const buffer = activeBuffer();
  $("buffer-name").textContent = buffer.kind === "server" ? state.network || "Server" : buffer.name;
  const topic = $("topic");
  topic.replaceChildren();
  if (buffer.kind === "channel") appendFormatted(topic, buffer.topic);
  else if (buffer.kind === "query") topic.textContent = "Private conversation";
  else topic.textContent = state.registered ? "Server messages" : "";
  topic.title = topic.textContent;
  const part = $("part-button");
  part.hidden = buffer.kind === "server";
  part.textContent = buffer.kind === "channel" && buffer.joined ? "Leave" : "Close";
  document.body.classList.toggle("no-members", buffer.kind !== "channel");
}

export function renderMembers() {
  const buffer = activeBuffer();
  const list = $("member-list");
  if (buffer.kind !== "channel") {
    list.replaceChildren();
    $("member-count").textContent = "";
    return;
  }
  const ranks = state.prefixChars;
  const rank = (m) => (m.prefixes ? ranks.indexOf(m.prefixes[0]) : ranks.length);
  const members = [...buffer.members.values()].sort(
    (a, b) => rank(a) - rank(b) || a.nick.toLowerCase().localeCompare(b.nick.toLowerCase()),
  );
  list.replaceChildren(
    ...members.map((m) => {
      const li = el("li", "member" + (m.away ? " away" : ""));
      li.dataset.nick = m.nick;
      li.tabIndex = 0;
      li.setAttribute("role", "button");
      li.append(el("span", "prefix", m.prefixes ? m.prefixes[0] : ""));
      li.append(el("span", nickClass(m.nick), m.nick));
      li.title = m.away ? m.nick + " is away" : "Message " + m.nick;
      const open = () => {
        if (state.fold(m.nick) === state.fold(state.nick)) return;
        switchTo(ensureBuffer(m.nick, "query").key);
      };
      li.addEventListener("click", open);
      li.addEventListener("keydown", (e) => {
        if (e.key === "Enter") open();
      });
      return li;
    }),
  );
  $("member-count").textContent = String(members.length);
}
// --- showing messages -------------------------------------------------------------------

function nearBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

export function scrollToBottom(force) {
  const box = $("messages");
  if (force || nearBottom()) box.scrollTop = box.scrollHeight;
}

export function messageTime(msg) {
  if (msg && msg.tags && msg.tags.time) {
    const t = Date.parse(msg.tags.time);
    if (!Number.isNaN(t)) return t;
  }
  return Date.now();
}

/**
 * Show a line in a buffer. kind: privmsg, notice, action, join, part, quit, nick, topic,
 * mode, info, error. Returns the element, or null when it was a duplicate.
 */
export function show(buffer, kind, nick, text, opts = {}) {
  const time = opts.time || Date.now();
  const msgid = opts.msgid || null;
  if (msgid) {
    if (buffer.msgids.has(msgid)) return null;
    buffer.msgids.add(msgid);
  }
  const line = el("div", "msg " + kind);
  line.dataset.time = String(time);
  if (msgid) line.dataset.msgid = msgid;
  const date = new Date(time);
  const stamp = el("time", "time", `${two(date.getHours())}:${two(date.getMinutes())}`);
  stamp.dateTime = date.toISOString();
  stamp.title = date.toLocaleString();
  line.append(stamp);
  const body = el("span", "body");
  if (kind === "privmsg" || kind === "notice") {
    body.append(el("span", nickClass(nick || "*"), nick || "*"));
    const textNode = el("span", "text");
    drawText(textNode, text);
    body.append(textNode);
  } else if (kind === "action") {
    body.append(el("span", "star", "*"), el("span", nickClass(nick), nick));
    const textNode = el("span", "text");
    drawText(textNode, text);
    body.append(textNode);
  } else {
    const textNode = el("span", "text");
    drawText(textNode, text);
    body.append(textNode);
  }
  line.append(body);
  if (opts.self) line.classList.add("self");
  if (opts.highlight) line.classList.add("highlight");

  const log = buffer.log;
  const stick = buffer.key === state.active && nearBottom();
  if (opts.history) {
    // Keep the log in time order: history arrives after (and before) live lines.
    let before = null;
    for (const child of log.children) {
      if (Number(child.dataset.time) > time) {
        before = child;
        break;
      }
    }
    log.insertBefore(line, before);
    if (!buffer.oldest || time < buffer.oldest.time) buffer.oldest = { time, msgid };
  } else {
    log.append(line);
    if (!buffer.oldest) buffer.oldest = { time, msgid };
  }
  while (log.children.length > MAX_LINES) {
    const first = log.firstElementChild;
    if (first.dataset.msgid) buffer.msgids.delete(first.dataset.msgid);
    first.remove();
  }
  const counts = kind === "privmsg" || kind === "action" || (kind === "notice" && buffer.kind !== "server");
  const visible = buffer.key === state.active && document.visibilityState === "visible";
  if (counts && !opts.self && !opts.history && !visible) {
    buffer.unread += 1;
    if (opts.highlight || buffer.kind === "query") buffer.highlight = true;
    renderBufferList();
  }
  if (buffer.key === state.active && (stick || opts.self)) scrollToBottom(true);
  return line;
}

export function serverBuffer() {
  return ensureBuffer(SERVER_KEY, "server");
}

export function info(text, buffer) {
  show(buffer || serverBuffer(), "info", null, text);
}

export function error(text, buffer) {
  show(buffer || activeBuffer(), "error", null, text);
}

export function mentions(text) {
  if (!state.nick) return false;
  const nick = state.nick.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^\\w])${nick}([^\\w]|$)`, "i").test(stripFormatting(text));
}
export function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = "status " + (kind || "");
}
// --- panels (phone layout) --------------------------------------------------------------

export function closePanels() {
  document.body.classList.remove("show-sidebar", "show-members");
  $("scrim").hidden = true;
}

export function togglePanel(name) {
  const cls = "show-" + name;
  const open = !document.body.classList.contains(cls);
  closePanels();
  if (open) {
    document.body.classList.add(cls);
    $("scrim").hidden = false;
  }
}

/** Back to the sign-in form, with a message (why). */
export function showLogin(message) {
  $("chat").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("nick").focus();
}
