// mIRC formatting (bold, colours...) and links, drawn as elements and text nodes (never HTML).

import { el } from "./dom.js";
import { state } from "./state.js";
import { renderHeader } from "./render.js";

const FORMATTING = /\x03(\d{1,2}(,\d{1,2})?)?|\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]/g;

export function stripFormatting(text) {
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
export function appendFormatted(node, text) {
  if (text.includes("\n")) {
    // A multiline message: each line starts plain, as it would as a line of its own.
    text.split("\n").forEach((line, i) => {
      if (i) node.append("\n");
      appendFormatted(node, line);
    });
    return;
  }
  if (!state.settings.formatting || !HAS_FORMATTING.test(text)) {
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
export function drawText(node, text) {
  drawnFrom.set(node, text);
  node.replaceChildren();
  appendFormatted(node, text);
}

export function redrawAll() {
  for (const node of document.querySelectorAll("#messages .msg .text")) {
    const text = drawnFrom.get(node);
    if (text !== undefined) drawText(node, text);
  }
  renderHeader();
}
