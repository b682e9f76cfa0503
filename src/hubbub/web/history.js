// Chat history (IRCv3 draft/chathistory) and read markers (draft/read-marker).
//
// - Joining a channel or opening a private conversation fetches its latest lines
//   (CHATHISTORY LATEST <target> *); after a reconnect, only what came after the newest line
//   we have (LATEST <target> msgid=<newest>), page after page (BEFORE) until it meets what we
//   have, at most MAX_CATCHUP_PAGES; if more was missed, a line says so where the gap is, and
//   its button loads the rest (AFTER the newest line we had, page after page).
// - CHATHISTORY TARGETS finds the private conversations that had messages meanwhile.
// - Scrolling to the top fetches older lines (BEFORE msgid=<oldest>), keeping the position.
// - A search result is shown in its context (AROUND msgid=<id>).
// Lines are kept in time order and de-duplicated by msgid, so what the server also replays
// (or echoes twice) is shown once. Batches are taken whole, when they end.
//
// Read markers: where you stopped reading, per conversation. Sent (MARKREAD) when the
// conversation is in view, the page visible and focused, and scrolled to its latest line;
// received from your other connections, they clear the unread counts.

import { $, el } from "./dom.js";
import { HISTORY_PAGE, state, getBuffer, keyOf, isChannel, isMe, parseStamp, saveSoon } from "./state.js";
import { ensureBuffer, insertInOrder, nearBottom, pageVisible, recountUnread, placeUnreadLine, renderBufferList, scrollToBottom, error } from "./render.js";
import { sendCmd } from "./connection.js";
import { handleMessage } from "./events.js";
import { searchResults } from "./search.js";
import { CAP as MULTILINE, combine } from "./multiline.js";

const MAX_CATCHUP_PAGES = 10; // after a reconnect (or a click on the gap), at most this many pages in a row
const TARGETS_DEFAULT_DAYS = 30; // how far back CHATHISTORY TARGETS looks without a last visit
const COLLECTED = new Set(["chathistory", "draft/chathistory-targets", "soju.im/search"]);

export function historyAvailable() {
  return state.caps.has("draft/chathistory") || state.caps.has("chathistory") || "CHATHISTORY" in state.isupport;
}

function canFetch() {
  return state.registered && historyAvailable() && state.caps.has("batch");
}

function pageSize() {
  const n = parseInt(state.isupport.CHATHISTORY || "", 10);
  return n > 0 ? Math.min(n, HISTORY_PAGE) : HISTORY_PAGE;
}

// --- references to lines ----------------------------------------------------------------

/** The lines that came from the server with a msgid or a time (the ones history knows). */
function serverLines(buffer) {
  return buffer.log.querySelectorAll(".msg.said[data-msgid], .msg.said[data-stamp]");
}

/** A CHATHISTORY reference to a line: msgid=... when the server takes them, else timestamp=. */
function ref(line) {
  const types = state.isupport.MSGREFTYPES;
  const msgids = types === undefined || types.split(",").includes("msgid");
  if (line.dataset.msgid && (msgids || !line.dataset.stamp)) return "msgid=" + line.dataset.msgid;
  return "timestamp=" + line.dataset.stamp;
}

function newestRef(buffer) {
  const lines = serverLines(buffer);
  return lines.length ? ref(lines[lines.length - 1]) : null;
}

// --- requests ---------------------------------------------------------------------------

/**
 * Ask for history. Replies come in the order asked, so each target keeps a queue of what
 * it asked for: purpose (latest, catchup, older, around, bridge), limit, and what to do then.
 */
function ask(buffer, sub, anchor, purpose, extra = {}) {
  const limit = pageSize();
  const queue = state.historyQueue.get(buffer.key) || [];
  queue.push({ purpose, limit, sub, ...extra });
  state.historyQueue.set(buffer.key, queue);
  sendCmd("CHATHISTORY", sub, buffer.name, anchor, String(limit));
}

/** The latest lines of a conversation: all of them, or what came after the ones we have. */
export function requestHistory(buffer) {
  if (!canFetch() || buffer.kind === "server") return;
  buffer.historyRequested = true;
  if (buffer.resumeFrom) {
    // (from: the newest line we had, where the rest is fetched if more was missed than the bound)
    const from = { ref: buffer.resumeFrom, line: buffer.resumeLine };
    ask(buffer, "LATEST", buffer.resumeFrom, "catchup", { page: 1, from });
    buffer.resumeFrom = null;
    buffer.resumeLine = null;
  } else {
    ask(buffer, "LATEST", "*", "latest");
  }
}

/** Older lines than the oldest shown (scrolling to the top, or /older). */
export function requestOlder(buffer) {
  if (!canFetch() || buffer.kind === "server" || buffer.loadingOlder || buffer.historyExhausted) return;
  const lines = serverLines(buffer);
  if (!lines.length) {
    if (!buffer.historyRequested) requestHistory(buffer);
    return;
  }
  buffer.loadingOlder = true;
  ask(buffer, "BEFORE", ref(lines[0]), "older", { anchor: { before: lines[0] } });
}

/** A message and the lines around it (a search result); then() is called once they are in. */
export function requestAround(buffer, msgid, then) {
  if (!canFetch()) return;
  // Not shown, so (unless a gap is left) older than what is: above it.
  const first = serverLines(buffer)[0];
  const anchor = first && !buffer.log.querySelector(".gap") ? { before: first } : null;
  ask(buffer, "AROUND", "msgid=" + msgid, "around", { then, anchor });
}

/** Before a reconnect: remember where each conversation was, to fetch only what follows. */
export function rememberPositions() {
  for (const buffer of state.buffers.values()) {
    if (!buffer.resumeFrom) {
      const lines = serverLines(buffer);
      buffer.resumeLine = lines.length ? lines[lines.length - 1] : null;
      buffer.resumeFrom = newestRef(buffer);
    }
    buffer.loadingOlder = false;
    buffer.historyRequested = false;
    buffer.markerAsked = false;
  }
  state.historyQueue = new Map();
}

/** A private conversation in view or found: its read marker and its latest lines. */
export function openQuery(buffer) {
  if (!state.registered || buffer.kind !== "query") return;
  if (!buffer.markerAsked && state.caps.has("draft/read-marker")) {
    buffer.markerAsked = true;
    sendCmd("MARKREAD", buffer.name);
  }
  if (!buffer.historyRequested) requestHistory(buffer);
}

/** Private conversations with messages since we were last here (or in the last 30 days). */
export function requestTargets() {
  if (!canFetch()) return;
  const now = Date.now();
  const since = state.lastSeen ? state.lastSeen - 60 * 1000 : now - TARGETS_DEFAULT_DAYS * 86400 * 1000;
  const stamp = (ms) => "timestamp=" + new Date(ms).toISOString();
  // The later bound first: the server counts the limit from the first one, so a page holds
  // the most recently active conversations (they come back oldest first all the same).
  sendCmd("CHATHISTORY", "TARGETS", stamp(now + 60 * 1000), stamp(since), String(pageSize()));
}

/** FAIL CHATHISTORY <code> <subcommand> <target> ...: that request gets no batch. */
export function historyFailed(msg) {
  const [, code, sub, target] = msg.params;
  if ((sub || "").toUpperCase() === "TARGETS" || !target) return;
  const buffer = getBuffer(target);
  const request = takeRequest(keyOf(target));
  if (!buffer || !request) return;
  if (request.purpose === "older") buffer.loadingOlder = false;
  if (code === "INVALID_TARGET" || request.purpose === "latest") buffer.historyExhausted = true;
  if (request.purpose !== "latest") {
    // (never silent: after a reconnect, what was missed would just not be there)
    error(`History: ${msg.params[msg.params.length - 1] || code}`, buffer);
  }
}

function takeRequest(key) {
  const queue = state.historyQueue.get(key);
  if (!queue || !queue.length) return null;
  const request = queue.shift();
  if (!queue.length) state.historyQueue.delete(key);
  return request;
}

// --- batches ----------------------------------------------------------------------------

export function handleBatch(msg) {
  const ref = msg.params[0] || "";
  const id = ref.slice(1);
  if (ref.startsWith("+")) {
    state.batches.set(id, {
      type: msg.params[1] || "",
      params: msg.params.slice(2),
      parent: msg.tags.batch || null,
      start: msg,
      messages: [],
    });
    return;
  }
  if (!ref.startsWith("-")) return;
  const batch = state.batches.get(id);
  state.batches.delete(id);
  if (batch && batch.type === MULTILINE) {
    // One message: kept by the batch it is in (history, search), else shown now.
    const message = combine(batch.start, batch.messages);
    const top = collectingBatch(batch.parent);
    if (message && top) top.messages.push(message);
    else if (message) handleMessage(message);
    return;
  }
  if (!batch || collectingBatch(batch.parent)) return; // (a batch inside one we collect)
  if (batch.type === "chathistory" || batch.type.endsWith("/chathistory")) finishHistory(batch);
  else if (batch.type === "draft/chathistory-targets") finishTargets(batch);
  else if (batch.type === "soju.im/search") searchResults(batch.messages);
}

function collectingBatch(id) {
  let top = null;
  for (let ref = id; ref; ) {
    const batch = state.batches.get(ref);
    if (!batch) break;
    if (COLLECTED.has(batch.type) || batch.type.endsWith("/chathistory")) top = batch;
    ref = batch.parent;
  }
  return top;
}

/**
 * A line inside a history, targets or search batch is kept with the batch, to be handled
 * when the batch ends (all at once: one redraw, the scroll position kept); so is a line of
 * a draft/multiline batch (the batch is one message). True if kept.
 */
export function collect(msg) {
  const own = msg.tags.batch ? state.batches.get(msg.tags.batch) : null;
  const batch = own && own.type === MULTILINE ? own : own ? collectingBatch(msg.tags.batch) : null;
  if (!batch) return false;
  batch.messages.push(msg);
  return true;
}

function lineOf(buffer, msgid) {
  return buffer.log.querySelector(`.msg[data-msgid="${CSS.escape(msgid)}"]`);
}

/**
 * Put a batch's lines in the log. Times alone cannot order lines of the same millisecond
 * (a burst), so the server's order is kept: each new line goes right after the previous one
 * of the batch, the new lines before the first one we had go just above it, and a batch
 * that meets none of ours goes at the place its request says (anchor: {before} or {after}
 * a line), else in time order.
 */
function place(buffer, messages, anchor) {
  let known = 0;
  let previous = null; // the batch's last line placed (or found already shown)
  let pending = []; // new lines before the first one we had
  const placed = [];
  for (const msg of messages) {
    if (msg.command !== "PRIVMSG" && msg.command !== "NOTICE") continue;
    const had = msg.tags.msgid && buffer.msgids.has(msg.tags.msgid) ? lineOf(buffer, msg.tags.msgid) : null;
    if (had) {
      known += 1;
      for (const line of pending) putBefore(had, line);
      pending = [];
      previous = had;
      continue;
    }
    const line = handleMessage(msg, buffer);
    if (!line) continue;
    placed.push(line);
    if (previous) {
      putAfter(previous, line);
      previous = line;
    } else {
      pending.push(line);
    }
  }
  if (pending.length) {
    const before = anchor && anchor.before && anchor.before.isConnected ? anchor.before : null;
    const after = anchor && anchor.after && anchor.after.isConnected ? anchor.after : null;
    if (before) for (const line of pending) putBefore(before, line);
    else if (after) pending.reduce((at, line) => (putAfter(at, line), line), after);
    else for (const line of pending) insertInOrder(buffer.log, line, Number(line.dataset.time));
  }
  return { known, oldest: placed[0] || null, newest: placed[placed.length - 1] || null };
}

/** Above a line, and above any (separators, our own lines) that are newer than it. */
function putBefore(anchor, line) {
  const time = Number(line.dataset.time);
  let at = anchor;
  for (let prev = at.previousElementSibling; prev; prev = prev.previousElementSibling) {
    const t = Number(prev.dataset.time);
    if (!Number.isNaN(t) && t <= time) break;
    at = prev;
  }
  at.before(line);
}

/** Below a line, and below any of our own lines that are older than it. */
function putAfter(anchor, line) {
  const time = Number(line.dataset.time);
  let at = anchor;
  for (let next = at.nextElementSibling; next; next = next.nextElementSibling) {
    const t = Number(next.dataset.time);
    if (Number.isNaN(t) || t >= time) break;
    at = next;
  }
  at.after(line);
}

function finishHistory(batch) {
  const name = batch.params[0] || "";
  const request = takeRequest(keyOf(name)) || { purpose: "latest", limit: pageSize() };
  let buffer = getBuffer(name);
  if (!buffer) {
    if (isChannel(name) || isMe(name)) return;
    buffer = ensureBuffer(name, "query");
  }
  const box = $("messages");
  const active = buffer.key === state.active;
  const fromBottom = box.scrollHeight - box.scrollTop;
  const wasAtBottom = nearBottom();
  const hadLines = serverLines(buffer).length > 0;
  const { known, oldest, newest } = place(buffer, batch.messages, request.anchor);
  const full = batch.messages.length >= request.limit;
  const { purpose } = request;
  if (purpose === "older") buffer.loadingOlder = false;
  if ((purpose === "latest" || purpose === "older") && !full) buffer.historyExhausted = true;
  if (purpose === "catchup" && full && !known && oldest) {
    if (request.page < MAX_CATCHUP_PAGES) {
      // More was missed than one page: go on back until we meet lines we have.
      const next = { page: request.page + 1, anchor: { before: oldest }, from: request.from };
      ask(buffer, "BEFORE", ref(oldest), "catchup", next);
    } else if (request.from && request.from.ref) {
      // Still more, and the bound is reached: say so where they are missing (never silent).
      missedGap(buffer, oldest, request.from);
    }
  }
  if ((purpose === "around" || purpose === "bridge") && newest) {
    const connected = purpose === "bridge" ? known > 0 || !full : known > 0 || null;
    bridge(buffer, newest, connected, request.page || 0);
  }
  if ((purpose === "latest" || purpose === "catchup") && !buffer.log.querySelector(".unread-line")) placeUnreadLine(buffer);
  recountUnread(buffer);
  if (active) {
    if (purpose === "older") {
      box.scrollTop = box.scrollHeight - fromBottom; // the lines in view stay where they were
    } else if (purpose === "latest" || purpose === "catchup") {
      const line = buffer.log.querySelector(".unread-line");
      if (line && !hadLines) line.scrollIntoView({ block: "center" });
      else if (wasAtBottom) scrollToBottom(true);
    }
    if (box.scrollHeight <= box.clientHeight && (purpose === "latest" || purpose === "older")) {
      requestOlder(buffer); // nothing to scroll yet: fill the view
    }
    maybeMarkRead();
  }
  if (request.then) request.then(buffer);
}

/**
 * After lines shown around a search result, or loaded into the gap left after a reconnect:
 * are they joined to the newer lines we have? connected: null when not known yet (ask for
 * what follows), true or false when known. page: which page of a gap being filled (0: not
 * one), the next asked for at once up to MAX_CATCHUP_PAGES, then a button again.
 */
function bridge(buffer, newest, connected, page) {
  for (const gap of buffer.log.querySelectorAll(".gap")) gap.remove();
  const lines = serverLines(buffer);
  const last = lines[lines.length - 1];
  const newer = last && last !== newest && newest.compareDocumentPosition(last) & Node.DOCUMENT_POSITION_FOLLOWING;
  if (!newer || connected === true) return;
  const fetchAfter = (n) => ask(buffer, "AFTER", ref(newest), "bridge", { anchor: { after: newest }, page: n });
  if (connected === null || (page && page < MAX_CATCHUP_PAGES)) {
    fetchAfter(page ? page + 1 : 0);
    return;
  }
  // Still not joined: a gap, with a button to load what is in it.
  const label = page ? "More messages were missed." : "";
  const gap = makeGap(label, "Load the messages in between", () => fetchAfter(1));
  buffer.log.insertBefore(gap, newest.nextSibling);
}

/** A line in the log saying messages are missing here, with a button that loads them. */
function makeGap(label, action, load) {
  const gap = el("div", "gap");
  gap.setAttribute("role", "separator");
  if (label) gap.append(el("span", "gap-label", label), " ");
  const button = el("button", "link", action);
  button.type = "button";
  button.addEventListener("click", () => {
    gap.remove();
    load();
  });
  gap.append(button);
  return gap;
}

/**
 * After a reconnect, more was missed than MAX_CATCHUP_PAGES: the newest lines are shown, and
 * above the oldest of them a line says some are missing; its button loads them, from the
 * newest line we had before the reconnect (from: {ref, line}) on.
 */
function missedGap(buffer, oldest, from) {
  const load = () => ask(buffer, "AFTER", from.ref, "bridge", { anchor: { after: from.line }, page: 1 });
  const gap = makeGap("More messages were missed while you were away.", "Load them", load);
  gap.classList.add("missed");
  gap.dataset.time = oldest.dataset.time; // (kept in its place by the lines put around it)
  oldest.before(gap);
}

function finishTargets(batch) {
  for (const msg of batch.messages) {
    if (msg.command !== "CHATHISTORY" || (msg.params[0] || "").toUpperCase() !== "TARGETS") continue;
    const name = msg.params[1] || "";
    if (!name || isChannel(name) || isMe(name) || name.includes("*")) continue;
    openQuery(getBuffer(name) || ensureBuffer(name, "query"));
  }
}

// --- read markers -----------------------------------------------------------------------

function rememberMarker(key, stamp) {
  state.markers.delete(key); // (re-added last: the most recent are the ones kept)
  state.markers.set(key, stamp);
  saveSoon();
}

/** MARKREAD <target> <timestamp=...|*>: from the server, after a JOIN or from another device. */
export function handleMarkread(msg) {
  const [target, value] = msg.params;
  if (!target) return;
  const key = keyOf(target);
  let stamp = value && value.startsWith("timestamp=") ? value.slice("timestamp=".length) : null;
  let time = parseStamp(stamp);
  const local = state.markers.get(key);
  if (Number.isNaN(time) && local) {
    // The server knows none (no account: markers last a connection): ours is better than none.
    stamp = local;
    time = parseStamp(local);
    if (state.caps.has("draft/read-marker") && !Number.isNaN(time)) sendCmd("MARKREAD", target, "timestamp=" + local);
  } else if (!Number.isNaN(time) && (!local || time > parseStamp(local))) {
    rememberMarker(key, stamp);
  }
  const buffer = getBuffer(target);
  if (!buffer || Number.isNaN(time)) return;
  if (buffer.marker === null || time > buffer.marker) buffer.marker = time;
  recountUnread(buffer);
}

let markTimer = null;

/** Soon: if the conversation in view is read to its end, say so (MARKREAD). */
export function maybeMarkRead() {
  if (!markTimer) markTimer = setTimeout(markRead, 200);
}

function markRead() {
  markTimer = null;
  const buffer = state.buffers.get(state.active);
  if (!buffer || buffer.kind === "server") return;
  if (!pageVisible() || !document.hasFocus() || !nearBottom()) return;
  const lines = buffer.log.querySelectorAll(".msg.said[data-stamp]");
  const last = lines[lines.length - 1];
  if (buffer.unread || buffer.mentions) {
    buffer.unread = 0;
    buffer.mentions = 0;
    renderBufferList();
  }
  if (!last) return;
  const time = Number(last.dataset.time);
  if (buffer.marker !== null && time <= buffer.marker) return;
  buffer.marker = time;
  rememberMarker(buffer.key, last.dataset.stamp);
  if (state.registered && state.caps.has("draft/read-marker")) {
    sendCmd("MARKREAD", buffer.name, "timestamp=" + last.dataset.stamp);
  }
}
