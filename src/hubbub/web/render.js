// Conversations on the page: the list, the header, the member list and the message lines.

import { $, el, nickClass, two } from "./dom.js";
import { stripFormatting, appendFormatted, drawText } from "./format.js";
import { SERVER_KEY, MAX_LINES, state, save, saveSoon, isChannel, keyOf, activeBuffer, parseStamp } from "./state.js";
import { maybeMarkRead, openQuery } from "./history.js";
import { notifyMessage } from "./notify.js";
import { renderTyping, stopTyping } from "./typing.js";
import { closeSearch } from "./search.js";

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
    unread: 0, // messages from others not read yet
    mentions: 0, // of which mention you (every one counts in a private conversation)
    marker: null, // the read marker (ms), null while unknown
    members: new Map(), // folded nick -> {nick, prefixes, away}
    spoke: new Map(), // folded nick -> when they last spoke here (ms), for Tab completion
    typing: new Map(), // folded nick -> {nick, until (ms)}: who is typing here
    names: null, // members being collected from RPL_NAMREPLY
    msgids: new Set(),
    historyRequested: false, // this connection asked for its latest lines
    markerAsked: false, // this connection asked for its read marker (private conversations)
    loadingOlder: false,
    historyExhausted: false, // the server has nothing older
    log: el("div", "log"),
    item: null,
  };
  buffer.log.dataset.buffer = name;
  buffer.log.hidden = true;
  $("messages").append(buffer.log);
  state.buffers.set(key, buffer);
  state.order.push(key);
  renderBufferList();
  if (buffer.kind === "query") saveSoon();
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
      const badge = el("span", buffer.mentions > 0 ? "unread highlight" : "unread", String(buffer.unread));
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

/** "(3) hubbub": the count is of mentions and private messages not read yet. */
function updateTitle() {
  let unread = 0;
  let mentions = 0;
  for (const b of state.buffers.values()) {
    unread += b.unread;
    mentions += b.mentions;
  }
  document.title = (mentions ? `(${mentions}) ` : "") + "hubbub" + (state.network ? " – " + state.network : "");
  $("toggle-sidebar").classList.toggle("has-unread", unread > 0);
}

export function switchTo(key) {
  const buffer = state.buffers.get(key);
  if (!buffer) return;
  const previous = state.buffers.get(state.active);
  if (previous && previous !== buffer) {
    previous.log.hidden = true;
    removeUnreadLine(previous); // it was seen; next time it goes where the marker is then
    stopTyping(previous);
  }
  if (!$("search-panel").hidden) closeSearch();
  state.active = key;
  state.wantActive = null;
  buffer.log.hidden = false;
  if (previous !== buffer) placeUnreadLine(buffer);
  buffer.unread = 0;
  buffer.mentions = 0;
  renderBufferList();
  renderHeader();
  renderMembers();
  renderTyping();
  closePanels();
  const line = buffer.log.querySelector(".unread-line");
  if (line && previous !== buffer) line.scrollIntoView({ block: "center" });
  if (!line || nearBottom()) scrollToBottom(true);
  if (buffer.kind === "query") openQuery(buffer);
  maybeMarkRead();
  saveSoon();
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

export function nearBottom() {
  const box = $("messages");
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

export function scrollToBottom(force) {
  const box = $("messages");
  if (force || nearBottom()) box.scrollTop = box.scrollHeight;
}

export function pageVisible() {
  return document.visibilityState === "visible";
}

export function messageTime(msg) {
  const t = parseStamp(msg && msg.tags && msg.tags.time);
  return Number.isNaN(t) ? Date.now() : t;
}

const CHAT_KINDS = new Set(["privmsg", "notice", "action"]);

/** The element of one line (time, nick, formatted text), not yet in a log. */
export function makeLine(kind, nick, text, opts = {}) {
  const time = opts.time || Date.now();
  const line = el("div", "msg " + kind);
  line.dataset.time = String(time);
  if (opts.msgid) line.dataset.msgid = opts.msgid;
  if (opts.stamp) line.dataset.stamp = opts.stamp; // the server's time tag, exactly
  const date = new Date(time);
  const clock = el("time", "time", `${two(date.getHours())}:${two(date.getMinutes())}`);
  clock.dateTime = date.toISOString();
  clock.title = date.toLocaleString();
  line.append(clock);
  const body = el("span", "body");
  if (kind === "privmsg" || kind === "notice") {
    body.append(el("span", nickClass(nick || "*"), nick || "*"));
  } else if (kind === "action") {
    body.append(el("span", "star", "*"), el("span", nickClass(nick), nick));
  }
  const textNode = el("span", "text");
  drawText(textNode, text);
  body.append(textNode);
  line.append(body);
  if (CHAT_KINDS.has(kind)) line.classList.add("said"); // (what someone said, not an event)
  if (opts.self) line.classList.add("self");
  if (opts.highlight) line.classList.add("highlight");
  return line;
}

/**
 * Put a line in a log in time order: after the lines of the same millisecond or older.
 * (History is placed by history.js, which knows the server's order of its lines.)
 */
export function insertInOrder(log, line, time) {
  let before = null;
  for (let child = log.lastElementChild; child; child = child.previousElementSibling) {
    const t = Number(child.dataset.time);
    if (Number.isNaN(t)) continue; // a separator: it goes with the line after it
    if (t <= time) break;
    before = child;
  }
  // Separators (the "new messages" line, a gap) stay just above the line they stood before.
  while (before && before.previousElementSibling && before.previousElementSibling.dataset.time === undefined) {
    before = before.previousElementSibling;
  }
  log.insertBefore(line, before);
}

/**
 * Show a line in a buffer. kind: privmsg, notice, action, join, part, quit, nick, topic,
 * mode, info, error. opts: time and stamp (from the server), msgid, self, highlight, history
 * (a line from CHATHISTORY: returned to be put in its place by the caller, never counted as
 * unread nor notified). Returns the element, or null when it was a duplicate (same msgid).
 */
export function show(buffer, kind, nick, text, opts = {}) {
  const msgid = opts.msgid || null;
  if (msgid) {
    if (buffer.msgids.has(msgid)) return null;
    buffer.msgids.add(msgid);
  }
  const time = opts.time || Date.now();
  const line = makeLine(kind, nick, text, { ...opts, time });
  const counts = CHAT_KINDS.has(kind) && buffer.kind !== "server" && !opts.self;
  if (counts) line.classList.add("counts");
  if (opts.stamp && time > state.lastSeen) {
    state.lastSeen = time;
    saveSoon();
  }

  if (opts.history) return line; // (not in the log yet: history.js puts it in its place)

  const log = buffer.log;
  const active = buffer.key === state.active;
  const stick = active && nearBottom();
  log.append(line);
  let trimmed = false;
  while (log.children.length > MAX_LINES) {
    const first = log.firstElementChild;
    if (first.dataset.msgid) {
      buffer.msgids.delete(first.dataset.msgid);
      trimmed = true;
    }
    first.remove();
  }
  if (trimmed) buffer.historyExhausted = false; // what was trimmed can be loaded again
  if (counts) {
    if (!(active && pageVisible())) {
      buffer.unread += 1;
      if (opts.highlight || buffer.kind === "query") buffer.mentions += 1;
      renderBufferList();
    }
    if (opts.highlight || buffer.kind === "query") notifyMessage(buffer, kind, nick, text);
  }
  if (active && (stick || opts.self)) scrollToBottom(true);
  if (active) maybeMarkRead();
  return line;
}

// --- unread counts and the "new messages" line ------------------------------------------

/** Unread counts from the read marker: the messages of others after it. */
export function recountUnread(buffer) {
  if (buffer.marker === null) return;
  let unread = 0;
  let mentions = 0;
  for (const line of buffer.log.querySelectorAll(".msg.counts")) {
    if (Number(line.dataset.time) <= buffer.marker) continue;
    unread += 1;
    if (buffer.kind === "query" || line.classList.contains("highlight")) mentions += 1;
  }
  if (buffer.key === state.active && pageVisible()) {
    unread = 0; // shown: read, or about to be (maybeMarkRead)
    mentions = 0;
  }
  if (unread !== buffer.unread || mentions !== buffer.mentions) {
    buffer.unread = unread;
    buffer.mentions = mentions;
    renderBufferList();
  }
}

export function removeUnreadLine(buffer) {
  for (const line of buffer.log.querySelectorAll(".unread-line")) line.remove();
}

/** The "new messages" line, above the first message of others after the read marker. */
export function placeUnreadLine(buffer) {
  removeUnreadLine(buffer);
  if (buffer.marker === null && !buffer.unread) return;
  let first = null;
  if (buffer.marker !== null) {
    for (const line of buffer.log.querySelectorAll(".msg.counts")) {
      if (Number(line.dataset.time) > buffer.marker) {
        first = line;
        break;
      }
    }
  } else {
    // No marker (the server keeps none): the last `unread` messages are the new ones.
    const lines = buffer.log.querySelectorAll(".msg.counts");
    first = lines[lines.length - buffer.unread] || null;
  }
  if (!first) return;
  const line = el("div", "unread-line");
  line.setAttribute("role", "separator");
  line.append(el("span", null, "New messages"));
  buffer.log.insertBefore(line, first);
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
