// Server replies (numerics) as sentences: WHOIS, WHOWAS, lists, LUSERS...

import { state, isChannel, getBuffer, activeBuffer } from "./state.js";
import { show, info } from "./render.js";

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
export function showNumericSentence(msg) {
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
