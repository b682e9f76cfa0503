// IRC lines: parsing and building them, tag values, case mapping, splitting long messages.
// Nothing here touches the page or the state.

// --- IRC lines --------------------------------------------------------------------------

const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

function unescapeTag(value) {
  return value.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPES ? TAG_UNESCAPES[c] : c));
}

const TAG_ESCAPES = { ";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n" };

/** A message-tag value escaped (also the syntax of SEARCH attributes). */
export function escapeTag(value) {
  return String(value).replace(/[; \\\r\n]/g, (c) => TAG_ESCAPES[c]);
}

/** Parse one IRC line into {tags, source, nick, command, params}; null if it is empty. */
export function parseLine(line) {
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
export function buildLine(command, ...params) {
  const clean = params.map((p) => String(p).replace(/[\r\n\0]+/g, " "));
  if (clean.length) {
    const last = clean.length - 1;
    if (clean[last] === "" || clean[last].includes(" ") || clean[last].startsWith(":")) {
      clean[last] = ":" + clean[last];
    }
  }
  return [command, ...clean].join(" ");
}

/** Split text so each piece, sent as PRIVMSG to target, fits in a 512-byte line. */
export function splitMessage(text, room) {
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

export function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

// --- case mapping -----------------------------------------------------------------------

export function folder(casemapping) {
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
export function parseCapList(text) {
  const out = new Map();
  for (const item of text.split(" ")) {
    if (!item) continue;
    const eq = item.indexOf("=");
    if (eq < 0) out.set(item, "");
    else out.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return out;
}
