// hubbub web client: IRC over WebSocket (IRCv3 text.ircv3.net), no build step, no dependencies.
//
// Everything a user, a nick, a topic or a server sends is put on the page with textContent or
// as a text node, never as HTML; the page's Content-Security-Policy forbids inline script too.
"use strict";

(() => {
  // --- constants --------------------------------------------------------------------------

  const WS_PATH = "/irc";
  const SERVER_KEY = "*server*"; // no nick or channel can be this
  const MAX_LINES = 2000; // per conversation kept on the page
  const HISTORY_LIMIT = 100;
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 60000;
  const WANTED_CAPS = [
    "server-time", "echo-message", "message-tags", "multi-prefix", "batch", "away-notify",
    "account-notify", "extended-join", "chghost", "setname", "invite-notify", "cap-notify",
    "userhost-in-names", "draft/chathistory", "chathistory",
  ];
  const STORE_KEY = "hubbub.web";
  const SETTINGS_KEY = "hubbub.web.settings"; // {formatting: bool}

  // --- IRC lines --------------------------------------------------------------------------

  const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

  function unescapeTag(value) {
    return value.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPES ? TAG_UNESCAPES[c] : c));
  }

  /** Parse one IRC line into {tags, source, nick, command, params}; null if it is empty. */
  function parseLine(line) {
    let rest = line.replace(/[\r\n]+$/, "");
    const msg = { tags: {}, source: null, nick: null, command: "", params: [] };
    if (rest.startsWith("@")) {
      const end = rest.indexOf(" ");
      if (end < 0) return null;
      for (const item of rest.slice(1, end).split(";")) {
        if (!item) continue;
        const eq = item.indexOf("=");
        if (eq < 0) msg.tags[item] = "";
        else msg.tags[item.slice(0, eq)] = unescapeTag(item.slice(eq + 1));
      }
      rest = rest.slice(end + 1).replace(/^ +/, "");
    }
    if (rest.startsWith(":")) {
      const end = rest.indexOf(" ");
      if (end < 0) return null;
      msg.source = rest.slice(1, end);
      const bang = msg.source.indexOf("!");
      msg.nick = bang >= 0 ? msg.source.slice(0, bang) : msg.source;
      rest = rest.slice(end + 1).replace(/^ +/, "");
    }
    while (rest) {
      if (rest.startsWith(":")) {
        msg.params.push(rest.slice(1));
        break;
      }
      const end = rest.indexOf(" ");
      if (end < 0) {
        msg.params.push(rest);
        break;
      }
      msg.params.push(rest.slice(0, end));
      rest = rest.slice(end + 1).replace(/^ +/, "");
    }
    msg.command = (msg.params.shift() || "").toUpperCase();
    return msg.command ? msg : null;
  }

  /** A line from a command and its parameters; the last one is made a trailing parameter. */
  function buildLine(command, ...params) {
    const clean = params.map((p) => String(p).replace(/[\r\n\0]+/g, " "));
    if (clean.length) {
      const last = clean.length - 1;
      if (clean[last] === "" || clean[last].includes(" ") || clean[last].startsWith(":")) {
        clean[last] = ":" + clean[last];
      }
    }
    return [command, ...clean].join(" ");
  }

  const FORMATTING = /\x03(\d{1,2}(,\d{1,2})?)?|\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g;

  function stripFormatting(text) {
    return text.replace(FORMATTING, "");
  }

  function plainStyle() {
    // fg and bg: null (the default), a colour number 0-98, or "#rrggbb".
    return { b: false, i: false, u: false, s: false, m: false, rev: false, fg: null, bg: null };
  }

  function colourNumber(digits) {
    const n = Number(digits);
    return n === 99 ? null : n; // 99 is "the default colour"
  }

  /**
   * Text with mIRC formatting codes as runs of {text, style}: \x02 bold, \x1d italics,
   * \x1f underline, \x1e strikethrough, \x11 monospace, \x16 reverse (toggles), \x03fg[,bg]
   * colours (\x03 alone ends them), \x04RRGGBB[,RRGGBB] hex colours, \x0f reset. See
   * https://modern.ircdocs.horse/formatting.html.
   */
  function formatRuns(text) {
    const runs = [];
    let style = plainStyle();
    let current = "";
    const flush = () => {
      if (current) runs.push({ text: current, style: { ...style } });
      current = "";
    };
    const toggles = { "\x02": "b", "\x1d": "i", "\x1f": "u", "\x1e": "s", "\x11": "m", "\x16": "rev" };
    for (let i = 0; i < text.length; i += 1) {
      const c = text[i];
      if (c in toggles) {
        flush();
        style[toggles[c]] = !style[toggles[c]];
      } else if (c === "\x0f") {
        flush();
        style = plainStyle();
      } else if (c === "\x03" || c === "\x04") {
        flush();
        const rest = text.slice(i + 1, i + 15);
        const m = c === "\x03" ? /^(\d{1,2})(?:,(\d{1,2}))?/.exec(rest) : /^([0-9a-f]{6})(?:,([0-9a-f]{6}))?/i.exec(rest);
        if (!m) {
          style.fg = null;
          style.bg = null;
          continue;
        }
        const colour = c === "\x03" ? colourNumber : (hex) => "#" + hex.toLowerCase();
        style.fg = colour(m[1]);
        if (m[2] !== undefined) style.bg = colour(m[2]);
        i += m[0].length;
      } else {
        current += c;
      }
    }
    flush();
    return runs;
  }

  /** Split text so each piece, sent as PRIVMSG to target, fits in a 512-byte line. */
  function splitMessage(text, room) {
    const encoder = new TextEncoder();
    const pieces = [];
    let current = "";
    let size = 0;
    for (const ch of text) {
      const n = encoder.encode(ch).length;
      if (size + n > room && current) {
        pieces.push(current);
        current = "";
        size = 0;
      }
      current += ch;
      size += n;
    }
    if (current) pieces.push(current);
    return pieces;
  }

  function base64(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
  }

  // --- case mapping -----------------------------------------------------------------------

  function folder(casemapping) {
    if (casemapping === "ascii") return (s) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
    const strict = casemapping === "strict-rfc1459";
    return (s) =>
      s.replace(/[A-Z[\]\\~^]/g, (c) => {
        if (c >= "A" && c <= "Z") return c.toLowerCase();
        if (c === "[") return "{";
        if (c === "]") return "}";
        if (c === "\\") return "|";
        if (c === "~" && !strict) return "^";
        return c;
      });
  }

  // --- DOM helpers ------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  /** An element with a class and text content (never HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  const URL_RE = /\bhttps?:\/\/[^\s<>"'\x00-\x1f]+[^\s<>"'.,;:!?)\]}\x00-\x1f]/gi;

  /** Append text to node, turning http(s) URLs into links (built as elements, not HTML). */
  function appendText(node, text) {
    let last = 0;
    for (const match of text.matchAll(URL_RE)) {
      let url = null;
      try {
        url = new URL(match[0]);
      } catch (_) {
        url = null;
      }
      if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
      if (match.index > last) node.append(document.createTextNode(text.slice(last, match.index)));
      const a = el("a", "link", match[0]);
      a.href = url.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      node.append(a);
      last = match.index + match[0].length;
    }
    if (last < text.length) node.append(document.createTextNode(text.slice(last)));
  }

  const HAS_FORMATTING = /[\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f]/;

  /**
   * Append text with its mIRC formatting drawn (or stripped when the user turned it off): each
   * run is a text node in a span with classes (.irc-b, .irc-fg-4, ...), links made as in
   * appendText; a hex colour is set on the span through the CSSOM, which the CSP allows
   * (it forbids style attributes in markup). Nothing from the text is ever parsed as HTML.
   */
  function appendFormatted(node, text) {
    if (!state.showFormatting || !HAS_FORMATTING.test(text)) {
      appendText(node, stripFormatting(text));
      return;
    }
    for (const { text: piece, style } of formatRuns(text)) {
      let { fg, bg } = style;
      if (style.rev) [fg, bg] = [bg === null ? "rev" : bg, fg === null ? "rev" : fg];
      const classes = ["b", "i", "u", "s", "m"].filter((k) => style[k]).map((k) => "irc-" + k);
      if (fg === "rev") classes.push("irc-rev-fg");
      else if (typeof fg === "number") classes.push("irc-fg-" + fg);
      if (bg === "rev") classes.push("irc-rev-bg");
      else if (typeof bg === "number") classes.push("irc-bg-" + bg);
      const hexFg = typeof fg === "string" && fg.startsWith("#");
      const hexBg = typeof bg === "string" && bg.startsWith("#");
      if (!classes.length && !hexFg && !hexBg) {
        appendText(node, piece);
        continue;
      }
      const span = el("span", classes.join(" "));
      if (hexFg) span.style.color = fg;
      if (hexBg) span.style.backgroundColor = bg;
      appendText(span, piece);
      node.append(span);
    }
  }

  // The text each formatted element was drawn from, to draw it again when the setting changes.
  const drawnFrom = new WeakMap();

  /** Replace node's content with text, formatted (see appendFormatted). */
  function drawText(node, text) {
    drawnFrom.set(node, text);
    node.replaceChildren();
    appendFormatted(node, text);
  }

  function redrawAll() {
    for (const node of document.querySelectorAll("#messages .msg .text")) {
      const text = drawnFrom.get(node);
      if (text !== undefined) drawText(node, text);
    }
    renderHeader();
  }

  function nickClass(nick) {
    let h = 0;
    for (const ch of nick.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return "nick nick-c" + (h % 8);
  }

  function two(n) {
    return String(n).padStart(2, "0");
  }

  // --- state ------------------------------------------------------------------------------

  const state = {
    ws: null,
    options: null, // {nick, channels, password, saslUser, saslPass}
    nick: "",
    registered: false,
    userQuit: false,
    fatal: false,
    attempt: 0,
    reconnectTimer: null,
    reconnectAt: 0,
    countdownTimer: null,
    available: new Map(), // CAP LS: name -> value
    lsDone: false,
    caps: new Set(), // enabled
    saslPending: false,
    nakRetried: false,
    isupport: {},
    prefixModes: "ov",
    prefixChars: "@+",
    chanTypes: "#&",
    statusMsg: "",
    chanModes: ["beI", "k", "l", "imnpst"],
    fold: folder("rfc1459"),
    showFormatting: true, // draw mIRC bold, colours...; off: strip them (a setting)
    network: "",
    buffers: new Map(),
    order: [],
    active: SERVER_KEY,
    batches: new Map(),
    pendingJoins: new Set(),
    pendingWho: new Set(), // folded channels whose WHO replies we asked for silently
    whowasNick: null, // folded nick whose WHOWAS reply is coming (its 312 says "was on")
    listCounts: new Map(), // "367 #folded" -> entries of a ban/exception list so far
    wantJoined: new Set(), // folded channel names to join again after a reconnect
  };

  function save() {
    try {
      const joined = [];
      for (const b of state.buffers.values()) if (b.kind === "channel" && b.joined) joined.push(b.name);
      const data = { nick: state.options ? state.options.nick : "", channels: joined };
      if (!data.channels.length && state.options) data.channels = state.options.channels;
      localStorage.setItem(STORE_KEY, JSON.stringify(data));
    } catch (_) {
      /* storage may be disabled */
    }
  }

  function loadSettings() {
    try {
      const settings = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {};
      state.showFormatting = settings.formatting !== false;
    } catch (_) {
      state.showFormatting = true;
    }
  }

  function saveSettings() {
    try {
      localStorage.setItem(SETTINGS_KEY, JSON.stringify({ formatting: state.showFormatting }));
    } catch (_) {
      /* storage may be disabled */
    }
  }

  function load() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch (_) {
      return {};
    }
  }

  // --- buffers (conversations) ------------------------------------------------------------

  function isChannel(name) {
    return !!name && state.chanTypes.includes(name[0]);
  }

  function keyOf(name) {
    return name === SERVER_KEY ? SERVER_KEY : state.fold(name);
  }

  function getBuffer(name) {
    return state.buffers.get(keyOf(name)) || null;
  }

  function ensureBuffer(name, kind) {
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

  function removeBuffer(buffer) {
    if (buffer.kind === "server") return;
    buffer.log.remove();
    state.buffers.delete(buffer.key);
    state.order = state.order.filter((k) => k !== buffer.key);
    if (state.active === buffer.key) switchTo(SERVER_KEY);
    renderBufferList();
    save();
  }

  function renameBuffer(buffer, name) {
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

  function renderBufferList() {
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

  function activeBuffer() {
    return state.buffers.get(state.active) || state.buffers.get(SERVER_KEY);
  }

  function switchTo(key) {
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

  function renderHeader() {
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

  function renderMembers() {
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

  function scrollToBottom(force) {
    const box = $("messages");
    if (force || nearBottom()) box.scrollTop = box.scrollHeight;
  }

  function messageTime(msg) {
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
  function show(buffer, kind, nick, text, opts = {}) {
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

  function serverBuffer() {
    return ensureBuffer(SERVER_KEY, "server");
  }

  function info(text, buffer) {
    show(buffer || serverBuffer(), "info", null, text);
  }

  function error(text, buffer) {
    show(buffer || activeBuffer(), "error", null, text);
  }

  function mentions(text) {
    if (!state.nick) return false;
    const nick = state.nick.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`(^|[^\\w])${nick}([^\\w]|$)`, "i").test(stripFormatting(text));
  }

  // --- connection -------------------------------------------------------------------------

  function send(line) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(line);
  }

  function sendCmd(command, ...params) {
    send(buildLine(command, ...params));
  }

  function setStatus(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.className = "status " + (kind || "");
  }

  function wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${WS_PATH}`;
  }

  function connect() {
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
        buffer.historyRequested = false;
      }
      buffer.loadingOlder = false;
      if (buffer.kind === "query") buffer.historyRequested = false;
    }
    renderBufferList();
    renderMembers();
    renderHeader();
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

  function parseCapList(text) {
    const out = new Map();
    for (const item of text.split(" ")) {
      if (!item) continue;
      const eq = item.indexOf("=");
      if (eq < 0) out.set(item, "");
      else out.set(item.slice(0, eq), item.slice(eq + 1));
    }
    return out;
  }

  function wantSasl() {
    const o = state.options;
    if (!o.saslUser || !o.saslPass || !state.available.has("sasl")) return false;
    const mechs = state.available.get("sasl");
    return !mechs || mechs.split(",").includes("PLAIN");
  }

  function handleCap(msg) {
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
      else sendCmd("CAP", "END");
    } else if (sub === "ACK") {
      for (const name of list.split(" ")) {
        if (!name) continue;
        if (name.startsWith("-")) state.caps.delete(name.slice(1));
        else state.caps.add(name);
      }
      if (!state.registered) {
        if (state.caps.has("sasl") && wantSasl()) {
          state.saslPending = true;
          sendCmd("AUTHENTICATE", "PLAIN");
        } else {
          sendCmd("CAP", "END");
        }
      }
    } else if (sub === "NAK") {
      if (!state.registered) {
        // Ask again for what is not refused; give up after one try.
        const refused = new Set(list.split(" "));
        const retry = WANTED_CAPS.filter((c) => state.available.has(c) && !refused.has(c) && !state.caps.has(c));
        if (retry.length && !state.nakRetried) {
          state.nakRetried = true;
          sendCmd("CAP", "REQ", retry.join(" "));
        } else {
          sendCmd("CAP", "END");
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
  }

  function handleAuthenticate(msg) {
    if (!state.saslPending || msg.params[0] !== "+") return;
    const o = state.options;
    const payload = base64(`${o.saslUser}\0${o.saslUser}\0${o.saslPass}`);
    for (let i = 0; i < payload.length; i += 400) send("AUTHENTICATE " + payload.slice(i, i + 400));
    if (payload.length % 400 === 0) send("AUTHENTICATE +");
  }

  function saslDone(ok, text) {
    if (!state.saslPending) return;
    state.saslPending = false;
    info(ok ? text : "Login to your account failed: " + text);
    if (!state.registered) sendCmd("CAP", "END");
  }

  // --- history ----------------------------------------------------------------------------

  function historyAvailable() {
    return state.caps.has("draft/chathistory") || state.caps.has("chathistory") || "CHATHISTORY" in state.isupport;
  }

  function historyLimit() {
    const n = parseInt(state.isupport.CHATHISTORY || "", 10);
    return n > 0 ? Math.min(n, HISTORY_LIMIT) : HISTORY_LIMIT;
  }

  function requestHistory(buffer) {
    if (!state.registered || !historyAvailable() || !state.caps.has("batch")) return;
    buffer.historyRequested = true;
    sendCmd("CHATHISTORY", "LATEST", buffer.name, "*", String(historyLimit()));
  }

  function requestOlder(buffer) {
    if (!state.registered || !historyAvailable() || !buffer.oldest) return;
    if (buffer.loadingOlder || buffer.historyExhausted) return;
    buffer.loadingOlder = true;
    const ref = buffer.oldest.msgid ? "msgid=" + buffer.oldest.msgid : "timestamp=" + new Date(buffer.oldest.time).toISOString();
    sendCmd("CHATHISTORY", "BEFORE", buffer.name, ref, String(historyLimit()));
  }

  function handleBatch(msg) {
    const ref = msg.params[0] || "";
    if (ref.startsWith("+")) {
      state.batches.set(ref.slice(1), {
        type: msg.params[1] || "",
        params: msg.params.slice(2),
        parent: msg.tags.batch || null,
        count: 0,
      });
    } else if (ref.startsWith("-")) {
      const batch = state.batches.get(ref.slice(1));
      state.batches.delete(ref.slice(1));
      if (batch && batch.type.endsWith("chathistory") && batch.params[0]) {
        const buffer = getBuffer(batch.params[0]);
        if (buffer) {
          if (buffer.loadingOlder && batch.count === 0) buffer.historyExhausted = true;
          buffer.loadingOlder = false;
          if (buffer.key === state.active) scrollToBottom(false);
        }
      }
    }
  }

  function inHistory(msg) {
    let ref = msg.tags.batch;
    while (ref) {
      const batch = state.batches.get(ref);
      if (!batch) return false;
      if (batch.type.endsWith("chathistory")) return true;
      ref = batch.parent;
    }
    return false;
  }

  // --- handling server messages -----------------------------------------------------------

  function isMe(nick) {
    return !!nick && state.fold(nick) === state.fold(state.nick);
  }

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
    return ensureBuffer(msg.nick, "query");
  }

  function handleMessage(msg) {
    const target = msg.params[0] || "";
    let text = msg.params[1] || "";
    const history = inHistory(msg);
    const buffer = target === "*" ? serverBuffer() : targetBuffer(msg, target);
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
        if (msg.command === "PRIVMSG" && !history && !isMe(msg.nick)) {
          if (verb === "VERSION") sendCmd("NOTICE", msg.nick, "\x01VERSION hubbub web client\x01");
          else if (verb === "PING") sendCmd("NOTICE", msg.nick, `\x01PING ${arg}\x01`);
        }
        return;
      }
    }
    const self = isMe(msg.nick);
    if (buffer.kind === "channel" && msg.nick) noteSpoke(buffer, msg.nick, messageTime(msg));
    if (history) {
      const batch = state.batches.get(msg.tags.batch);
      if (batch) batch.count += 1;
    }
    show(buffer, kind, msg.nick || msg.source || "*", text, {
      time: messageTime(msg),
      msgid: msg.tags.msgid,
      self,
      history,
      highlight: !self && buffer.kind === "channel" && mentions(text),
    });
  }

  function handleJoin(msg) {
    const channel = msg.params[0];
    const buffer = ensureBuffer(channel, "channel");
    if (isMe(msg.nick)) {
      buffer.joined = true;
      buffer.name = channel;
      buffer.members.clear();
      state.wantJoined.delete(buffer.key);
      const asked = state.pendingJoins.has(buffer.key);
      state.pendingJoins.delete(buffer.key);
      renderBufferList();
      if (asked || state.active === SERVER_KEY) switchTo(buffer.key);
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
    save();
    const channels = new Map(); // folded -> name as typed
    for (const key of state.wantJoined) {
      const buffer = state.buffers.get(key);
      if (buffer) channels.set(key, buffer.name);
    }
    for (const name of state.options.channels) channels.set(state.fold(name), name);
    state.options.channels = [];
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
      if (buffer.kind === "query" && buffer.key === state.active) requestHistory(buffer);
    }
    renderHeader();
  }

  function numericText(msg) {
    return msg.params.slice(1).join(" ");
  }

  // --- numerics as sentences --------------------------------------------------------------

  /** A Unix time (seconds) in the reader's locale and time zone; the text itself otherwise. */
  function localTime(seconds) {
    if (!/^\d+$/.test(seconds || "")) return seconds || "";
    return new Date(Number(seconds) * 1000).toLocaleString();
  }

  const UNITS = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];

  /** Seconds as "1 d 2 h", "1 h 2 min" or "23 s": the largest unit and the next if not 0. */
  function duration(seconds) {
    if (!/^\d+$/.test(seconds || "")) return seconds ? `${seconds} s` : "an unknown time";
    const total = Number(seconds);
    const first = UNITS.findIndex(([, size]) => total >= size);
    if (first < 0) return "0 s";
    const [unit, size] = UNITS[first];
    let text = `${Math.floor(total / size)} ${unit}`;
    const next = UNITS[first + 1];
    if (next && Math.floor((total % size) / next[1]) > 0) text += ` ${Math.floor((total % size) / next[1])} ${next[0]}`;
    return text;
  }

  function countOf(count, one, many) {
    return `${count} ${count === "1" ? one : many}`;
  }

  /** "a", "a and b", "a, b and c". */
  function listWords(items) {
    if (items.length < 2) return items.join("");
    return items.slice(0, -1).join(", ") + " and " + items[items.length - 1];
  }

  const PREFIX_ROLES = { q: "owner", a: "admin", o: "operator", h: "half-operator", v: "voice" };

  /** "@#ops" as "#ops (operator)", from the server's PREFIX. */
  function channelWithRoles(entry) {
    const roles = [];
    let i = 0;
    while (i < entry.length - 1 && state.prefixChars.includes(entry[i]) && !isChannel(entry.slice(i))) {
      const mode = state.prefixModes[state.prefixChars.indexOf(entry[i])];
      roles.push(PREFIX_ROLES[mode] || entry[i]);
      i += 1;
    }
    return roles.length ? `${entry.slice(i)} (${roles.join(", ")})` : entry;
  }

  /** The server's own phrase ("is a Network Administrator") when it is one, else ours. */
  function phrase(text, otherwise) {
    return /^(is|has|was) /i.test(text || "") ? text : otherwise;
  }

  function realName(name) {
    return name ? ` (real name: ${name})` : "";
  }

  // Ban, exception and invite-exception lists: entry numeric -> [end numeric, sentence words].
  const LISTS = {
    367: { end: "368", verb: "bans", one: "ban", many: "bans" },
    348: { end: "349", verb: "exempts from bans", one: "exception", many: "exceptions" },
    346: { end: "347", verb: "lets in without an invite", one: "invite exception", many: "invite exceptions" },
  };
  const LIST_ENDS = Object.fromEntries(Object.entries(LISTS).map(([code, list]) => [list.end, code]));

  /** Where a reply about a channel goes: its conversation if there is one, else in view. */
  function channelBuffer(name) {
    return getBuffer(name || "") || activeBuffer();
  }

  /**
   * A numeric reply as a sentence, shown in the right place; false when it is not one we
   * know (the caller shows its parameters as they are).
   */
  function showNumericSentence(msg) {
    const p = msg.params;
    const whois = (text) => info(text, activeBuffer());
    switch (msg.command) {
      case "004": // the server's name and version, as 002 said in words
        return true;
      case "221":
        info(`Your modes: ${p[1]}`, activeBuffer());
        return true;
      case "252":
        info(`${countOf(p[1], "operator", "operators")} online`);
        return true;
      case "253":
        info(countOf(p[1], "unregistered connection", "unregistered connections"));
        return true;
      case "254":
        info(`${countOf(p[1], "channel", "channels")} formed`);
        return true;
      case "265":
      case "266":
        // "<users> <max> :Current local users 3, max 5": the text says it all.
        if (p.length > 2 && !/^\d*$/.test(p[p.length - 1])) info(p[p.length - 1]);
        else info(`${p[1]} users ${msg.command === "265" ? "on this server" : "on the network"}, at most ${p[2]}`);
        return true;
      case "301":
        whois(`${p[1]} is away${p[2] ? ": " + p[2] : ""}`);
        return true;
      case "311":
        whois(`${p[1]} is ${p[2]}@${p[3]}${realName(p[5])}`);
        return true;
      case "314":
        state.whowasNick = state.fold(p[1] || "");
        whois(`${p[1]} was ${p[2]}@${p[3]}${realName(p[5])}`);
        return true;
      case "312": {
        const was = state.whowasNick === state.fold(p[1] || "");
        whois(`${p[1]} ${was ? "was" : "is"} on ${p[2]}${p[3] ? ` (${p[3]})` : ""}`);
        return true;
      }
      case "313":
        whois(`${p[1]} ${phrase(p[2], "is an IRC operator")}`);
        return true;
      case "671":
        whois(`${p[1]} ${phrase(p[2], "is using a secure connection")}`);
        return true;
      case "317": {
        const signon = p.length > 4 && /^\d+$/.test(p[3]) ? `, signed on at ${localTime(p[3])}` : "";
        whois(`${p[1]} has been idle ${duration(p[2])}${signon}`);
        return true;
      }
      case "319": {
        const channels = (p[2] || "").split(" ").filter(Boolean).map(channelWithRoles);
        whois(`${p[1]} is in ${listWords(channels)}`);
        return true;
      }
      case "330":
        whois(`${p[1]} is logged in as ${p[2]}`);
        return true;
      case "338": {
        const where = p.slice(2, -1);
        if (!where.length) return false;
        whois(`${p[1]} actually connects from ${where[0]}${where[1] ? ` (${where[1]})` : ""}`);
        return true;
      }
      case "318": // end of WHOIS: nothing to say
        return true;
      case "369": // end of WHOWAS
        state.whowasNick = null;
        return true;
      case "322":
        info(`${p[1]}: ${countOf(p[2], "user", "users")}${p[3] ? ` — ${p[3]}` : ""}`);
        return true;
      case "324":
        info(`${p[1]} has modes ${p.slice(2).join(" ")}`, channelBuffer(p[1]));
        return true;
      case "329":
        info(`${p[1]} was created on ${localTime(p[2])}`, channelBuffer(p[1]));
        return true;
      case "333": {
        const setter = (p[2] || "").split("!")[0];
        if (setter) show(channelBuffer(p[1]), "topic", null, `Topic set by ${setter}${p[3] ? ` on ${localTime(p[3])}` : ""}`);
        return true;
      }
      case "341":
        info(`You invited ${p[1]} to ${p[2]}`, activeBuffer());
        return true;
      case "352": {
        // Not one of our silent WHOs (handled before): "<channel> <user> <host> <server> <nick> <flags> :<hops> <real name>".
        const real = (p[7] || "").replace(/^\d+ /, "");
        const where = p[1] && p[1] !== "*" ? ` in ${p[1]}` : "";
        const away = (p[6] || "").startsWith("G") ? ", away" : "";
        info(`${p[5]} is ${p[2]}@${p[3]}${where}${away}${realName(real)}`, activeBuffer());
        return true;
      }
      case "315": // end of WHO
        return true;
      default:
        break;
    }
    const list = LISTS[msg.command];
    if (list) {
      const key = `${msg.command} ${state.fold(p[1] || "")}`;
      state.listCounts.set(key, (state.listCounts.get(key) || 0) + 1);
      const setter = p[3] ? ` (set by ${p[3].split("!")[0]}${p[4] ? ` on ${localTime(p[4])}` : ""})` : "";
      info(`${p[1]} ${list.verb} ${p[2]}${setter}`, channelBuffer(p[1]));
      return true;
    }
    const entryCode = LIST_ENDS[msg.command];
    if (entryCode) {
      const key = `${entryCode} ${state.fold(p[1] || "")}`;
      const count = String(state.listCounts.get(key) || 0);
      state.listCounts.delete(key);
      const { one, many } = LISTS[entryCode];
      info(`${p[1]} has ${count === "0" ? "no " + many : countOf(count, one, many)}`, channelBuffer(p[1]));
      return true;
    }
    return false;
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
  function receive(raw) {
    const msg = parseLine(raw);
    if (msg) handle(msg);
  }

  function handle(msg) {
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
        if (msg.command === "FAIL") error(`${msg.params[0]}: ${text}`);
        else info(`${msg.params[0]}: ${text}`);
        return;
      }
      default:
        return;
    }
  }

  // --- user input -------------------------------------------------------------------------

  function sendMessage(target, text, action) {
    const buffer = ensureBuffer(target);
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

  function joinOrOpen(name) {
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

  function leave(buffer, reason) {
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
    "/quote LINE — send a raw IRC line",
    "/quit [reason] — disconnect",
  ];

  // The commands runCommand knows, offered by Tab completion (the aliases j, leave and raw
  // work but are not offered).
  const COMMANDS = [
    "away", "back", "close", "help", "join", "me", "msg", "nick", "older", "part", "query",
    "quit", "quote", "topic", "whois", "whowas",
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
      case "quote":
      case "raw":
        if (arg) send(arg.replace(/[\r\n\0]+/g, " "));
        return;
      case "quit":
        state.userQuit = true;
        sendCmd("QUIT", arg || "Leaving");
        return;
      case "help":
        for (const line of HELP) info(line, buffer);
        return;
      default:
        error(`Unknown command /${cmd}; type /help for the list`, buffer);
    }
  }

  function onInput(event) {
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

  // --- Tab completion ---------------------------------------------------------------------

  // While Tab cycles: {before, after, candidates, index, value}; value is what we put in the
  // box, so an edit by any other means starts a new completion.
  let completion = null;
  let tabLeaves = false; // Escape was pressed: the next Tab moves the focus on as usual
  const MODIFIER_KEYS = new Set(["Shift", "Control", "Alt", "Meta", "CapsLock", "AltGraph"]);

  function startsWithFolded(name, word) {
    return state.fold(name).startsWith(state.fold(word));
  }

  /** What word (the text before the caret back to a space) may become, as inserted. */
  function completionCandidates(word, atStart) {
    if (word.startsWith("/")) {
      if (!atStart || word.startsWith("//")) return [];
      const typed = word.slice(1).toLowerCase();
      return COMMANDS.filter((c) => c.startsWith(typed)).map((c) => "/" + c);
    }
    if (isChannel(word)) {
      return [...state.buffers.values()]
        .filter((b) => b.kind === "channel" && b.joined && startsWithFolded(b.name, word))
        .sort((a, b) => a.key.localeCompare(b.key))
        .map((b) => b.name);
    }
    const buffer = activeBuffer();
    let nicks = [];
    if (buffer.kind === "channel") nicks = [...buffer.members.values()].map((m) => m.nick);
    else if (buffer.kind === "query") nicks = [buffer.name, state.nick];
    const spoke = (nick) => (buffer.spoke ? buffer.spoke.get(state.fold(nick)) || 0 : 0);
    return nicks
      .filter((nick) => startsWithFolded(nick, word))
      .sort(
        (a, b) =>
          Number(isMe(a)) - Number(isMe(b)) || // your own nick last
          spoke(b) - spoke(a) || // then the most recently active first
          a.toLowerCase().localeCompare(b.toLowerCase()),
      )
      .map((nick) => (atStart ? nick + ":" : nick));
  }

  /** Complete the word before the caret, or go on to the next (dir 1) or previous (-1) one. */
  function complete(dir) {
    const input = $("input");
    if (completion && input.value === completion.value) {
      const n = completion.candidates.length;
      completion.index = (completion.index + dir + n) % n;
    } else {
      completion = null;
      const caret = input.selectionStart === null ? input.value.length : input.selectionStart;
      const head = input.value.slice(0, caret);
      const start = head.search(/\S*$/);
      const word = head.slice(start);
      if (!word) return;
      const candidates = completionCandidates(word, start === 0);
      if (!candidates.length) return;
      completion = {
        before: input.value.slice(0, start),
        after: input.value.slice(input.selectionEnd === null ? caret : input.selectionEnd),
        candidates,
        index: dir > 0 ? 0 : candidates.length - 1,
        value: "",
      };
    }
    const { before, after } = completion;
    const insert = completion.candidates[completion.index];
    input.value = before + insert + (after.startsWith(" ") ? after : " " + after);
    const caret = before.length + insert.length + 1; // after the space
    input.setSelectionRange(caret, caret);
    completion.value = input.value;
  }

  function onInputKeydown(event) {
    if (event.isComposing) return;
    if (event.key === "Tab" && !event.ctrlKey && !event.altKey && !event.metaKey) {
      if (tabLeaves) {
        tabLeaves = false; // let the browser move the focus
        completion = null;
        return;
      }
      event.preventDefault();
      complete(event.shiftKey ? -1 : 1);
      return;
    }
    if (MODIFIER_KEYS.has(event.key)) return; // Shift of Shift+Tab does not end the cycle
    completion = null;
    tabLeaves = event.key === "Escape";
  }

  // --- panels (phone layout) --------------------------------------------------------------

  function closePanels() {
    document.body.classList.remove("show-sidebar", "show-members");
    $("scrim").hidden = true;
  }

  function togglePanel(name) {
    const cls = "show-" + name;
    const open = !document.body.classList.contains(cls);
    closePanels();
    if (open) {
      document.body.classList.add(cls);
      $("scrim").hidden = false;
    }
  }

  // --- login ------------------------------------------------------------------------------

  function showLogin(message) {
    $("chat").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("nick").focus();
  }

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
    $("input").addEventListener("keydown", onInputKeydown);
    loadSettings();
    $("show-formatting").checked = state.showFormatting;
    $("show-formatting").addEventListener("change", (e) => {
      state.showFormatting = e.target.checked;
      saveSettings();
      redrawAll();
    });
    $("input").addEventListener("blur", () => {
      completion = null;
      tabLeaves = false;
    });
    $("input").addEventListener("pointerdown", () => {
      completion = null;
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
})();
