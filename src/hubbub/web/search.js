// Searching what was said (soju.im/search): a box in the sidebar, the results over the
// messages; a click opens the conversation with the message in its context
// (CHATHISTORY AROUND) and highlighted.

import { escapeTag } from "./irc.js";
import { $, el } from "./dom.js";
import { state, activeBuffer, getBuffer, isChannel, isMe } from "./state.js";
import { ensureBuffer, makeLine, messageTime, switchTo, closePanels } from "./render.js";
import { sendCmd } from "./connection.js";
import { historyAvailable, requestAround } from "./history.js";

const SEARCH_LIMIT = 50;

let pending = null; // {text, where}: the search whose results are awaited

export function searchAvailable() {
  return state.caps.has("soju.im/search") && state.caps.has("batch");
}

/** Show or hide the search box, as the server offers search or not. */
export function renderSearchBox() {
  $("search-form").hidden = !searchAvailable();
}

/** SEARCH text=...;in=<where> (every conversation when where is empty). */
export function search(text, where) {
  text = text.trim();
  if (!text || !state.registered || !searchAvailable()) return;
  const attrs = [`text=${escapeTag(text)}`, `limit=${SEARCH_LIMIT}`];
  if (where) attrs.unshift(`in=${escapeTag(where)}`);
  pending = { text, where };
  sendCmd("SEARCH", attrs.join(";"));
  openPanel(`Searching for “${text}”${where ? " in " + where : ""}…`);
}

function openPanel(title) {
  $("search-title").textContent = title;
  $("search-results").replaceChildren();
  $("search-panel").hidden = false;
  $("messages").hidden = true;
  closePanels();
}

export function closeSearch() {
  $("search-panel").hidden = true;
  $("messages").hidden = false;
  pending = null;
}

/** The conversation a message belongs to, for us: its channel, or the other person. */
function conversationOf(msg) {
  const target = msg.params[0] || "";
  if (isChannel(target)) return target;
  return isMe(msg.nick) ? target : msg.nick || target;
}

/** The soju.im/search batch ended: its messages, newest first. */
export function searchResults(messages) {
  if (!pending) return;
  const { text, where } = pending;
  pending = null;
  const found = messages.filter((m) => (m.command === "PRIVMSG" || m.command === "NOTICE") && m.tags.msgid);
  $("search-title").textContent =
    `${found.length ? found.length : "No"} result${found.length === 1 ? "" : "s"} for “${text}”` +
    (where ? ` in ${where}` : "");
  const items = found.reverse().map((msg) => {
    const name = conversationOf(msg);
    let body = msg.params[1] || "";
    let kind = msg.command === "NOTICE" ? "notice" : "privmsg";
    if (body.startsWith("\x01ACTION ")) {
      kind = "action";
      body = body.slice(8).replace(/\x01$/, "");
    }
    const li = el("li", "result");
    const button = el("button", "result-button");
    button.type = "button";
    button.dataset.msgid = msg.tags.msgid;
    button.dataset.target = name;
    button.append(el("span", "result-where", name));
    const line = makeLine(kind, msg.nick || "*", body, { time: messageTime(msg) });
    line.querySelector("time").textContent = new Date(messageTime(msg)).toLocaleString([], {
      dateStyle: "short",
      timeStyle: "short",
    });
    button.append(line);
    button.addEventListener("click", () => jumpTo(name, msg.tags.msgid));
    li.append(button);
    return li;
  });
  $("search-results").replaceChildren(...items);
}

/** FAIL SEARCH ...: said in the results panel. */
export function searchFailed(text) {
  if (!pending && $("search-panel").hidden) return;
  pending = null;
  $("search-title").textContent = `The search failed: ${text}`;
}

/** Open a conversation at a message: scrolled to it and highlighted, fetched if not shown. */
export function jumpTo(name, msgid) {
  closeSearch();
  const buffer = getBuffer(name) || ensureBuffer(name, isChannel(name) ? "channel" : "query");
  switchTo(buffer.key);
  if (highlight(buffer, msgid)) return;
  if (historyAvailable()) requestAround(buffer, msgid, () => highlight(buffer, msgid));
}

function highlight(buffer, msgid) {
  let found = null;
  for (const line of buffer.log.querySelectorAll(".msg[data-msgid]")) {
    line.classList.remove("found");
    if (line.dataset.msgid === msgid) found = line;
  }
  if (!found) return false;
  found.classList.add("found");
  if (buffer.key === state.active) found.scrollIntoView({ block: "center" });
  return true;
}

export function setupSearch() {
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const here = activeBuffer();
    const scope = $("search-scope").value;
    search($("search-input").value, scope === "here" && here && here.kind !== "server" ? here.name : "");
  });
  $("search-close").addEventListener("click", closeSearch);
}
