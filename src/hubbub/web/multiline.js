// IRCv3 draft/multiline: a block of several lines sent as one message, and a received batch
// shown as one message with its line breaks.
//
// Sending: BATCH +ref draft/multiline <target>, one PRIVMSG per line tagged batch=ref (a line
// too long for one message is cut, its later pieces tagged draft/multiline-concat so that they
// join without a break), BATCH -ref; within the max-bytes and max-lines the server advertised
// in the capability's value. Receiving: the lines of the batch joined by "\n" (concatenated
// ones without), with the tags (msgid, time, account) of its opening BATCH.
// Nothing here touches the page.

import { buildLine, splitMessage } from "./irc.js";

export const CAP = "draft/multiline";
export const CONCAT_TAG = "draft/multiline-concat";

/** {maxBytes, maxLines} from the capability's value "max-bytes=4096,max-lines=100" (null: not said). */
export function parseLimits(value) {
  const found = {};
  for (const token of (value || "").split(",")) {
    const [key, number] = token.split("=");
    if ((key === "max-bytes" || key === "max-lines") && /^\d+$/.test(number || "")) found[key] = Number(number);
  }
  return { maxBytes: found["max-bytes"] ?? null, maxLines: found["max-lines"] ?? null };
}

/** The lines of a text typed or pasted (any line ending), without blank lines at its ends. */
export function textLines(text) {
  const lines = text.split(/\r\n|\r|\n/);
  while (lines.length && !lines[0].trim()) lines.shift();
  while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
  return lines;
}

let counter = 0;

/** A batch reference not used before on this page. */
function newRef() {
  counter += 1;
  return "ml" + counter.toString(36) + Math.random().toString(36).slice(2, 8);
}

/**
 * The IRC lines that send `lines` to `target` as one multiline message, each line's text at
 * most `room` bytes: {lines, pieces} where pieces are the texts as sent ([text, concat]), or
 * {tooLong: "why"} when the server's limits are exceeded.
 */
export function multilineBatch(target, lines, room, limits) {
  const pieces = [];
  for (const line of lines) {
    const parts = line ? splitMessage(line, room) : [""];
    parts.forEach((part, i) => pieces.push([part, i > 0]));
  }
  const encoder = new TextEncoder();
  const breaks = pieces.filter(([, concat], i) => i > 0 && !concat).length;
  const bytes = pieces.reduce((n, [part]) => n + encoder.encode(part).length, 0) + breaks;
  if (limits.maxLines !== null && pieces.length > limits.maxLines) {
    return { tooLong: `${pieces.length} lines, and this server takes at most ${limits.maxLines} in one message` };
  }
  if (limits.maxBytes !== null && bytes > limits.maxBytes) {
    return { tooLong: `${bytes} bytes, and this server takes at most ${limits.maxBytes} in one message` };
  }
  const ref = newRef();
  const out = [buildLine("BATCH", "+" + ref, CAP, target)];
  for (const [part, concat] of pieces) {
    const tags = concat ? `@batch=${ref};${CONCAT_TAG} ` : `@batch=${ref} `;
    // (a trailing parameter always: a line may be empty or start with ":")
    out.push(tags + "PRIVMSG " + target + " :" + part.replace(/[\r\n\0]+/g, " "));
  }
  out.push(buildLine("BATCH", "-" + ref));
  return { lines: out, pieces };
}

/** The text of pieces ([text, concat]): joined by "\n", concatenated ones without. */
export function joinPieces(pieces) {
  return pieces.map(([part, concat], i) => (i > 0 && !concat ? "\n" : "") + part).join("");
}

/**
 * One PRIVMSG (or NOTICE) made of a received multiline batch (start: its opening BATCH,
 * messages: the lines tagged with it), shaped as parseLine makes them; null if it holds none.
 */
export function combine(start, messages) {
  const pieces = [];
  let command = "";
  let target = start.params[2] || "";
  let { source, nick } = start;
  for (const msg of messages) {
    if ((msg.command !== "PRIVMSG" && msg.command !== "NOTICE") || msg.params.length < 2) continue;
    command = command || msg.command;
    pieces.push([msg.params[1], pieces.length > 0 && CONCAT_TAG in msg.tags]);
    target = target || msg.params[0];
    if (!source) ({ source, nick } = msg);
  }
  if (!command) return null;
  const tags = { ...start.tags };
  delete tags.batch;
  return { tags, source, nick, command, params: [target, joinPieces(pieces)] };
}
