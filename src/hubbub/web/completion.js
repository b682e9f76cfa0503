// Tab completion of nicks, channels and commands in the message box.

import { $ } from "./dom.js";
import { state, isChannel, activeBuffer, isMe } from "./state.js";
import { COMMANDS } from "./commands.js";

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

/** Tab completion in the message box: Tab, Shift+Tab, Escape then Tab to leave it. */
export function setupCompletion(input) {
  input.addEventListener("keydown", onInputKeydown);
  input.addEventListener("blur", () => {
    completion = null;
    tabLeaves = false;
  });
  input.addEventListener("pointerdown", () => {
    completion = null;
  });
}
