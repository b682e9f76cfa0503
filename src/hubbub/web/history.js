// Chat history (IRCv3 draft/chathistory).

import { HISTORY_LIMIT, state, getBuffer } from "./state.js";
import { scrollToBottom } from "./render.js";
import { sendCmd } from "./connection.js";

// --- history ----------------------------------------------------------------------------

export function historyAvailable() {
  return state.caps.has("draft/chathistory") || state.caps.has("chathistory") || "CHATHISTORY" in state.isupport;
}

function historyLimit() {
  const n = parseInt(state.isupport.CHATHISTORY || "", 10);
  return n > 0 ? Math.min(n, HISTORY_LIMIT) : HISTORY_LIMIT;
}

export function requestHistory(buffer) {
  if (!state.registered || !historyAvailable() || !state.caps.has("batch")) return;
  buffer.historyRequested = true;
  sendCmd("CHATHISTORY", "LATEST", buffer.name, "*", String(historyLimit()));
}

export function requestOlder(buffer) {
  if (!state.registered || !historyAvailable() || !buffer.oldest) return;
  if (buffer.loadingOlder || buffer.historyExhausted) return;
  buffer.loadingOlder = true;
  const ref = buffer.oldest.msgid ? "msgid=" + buffer.oldest.msgid : "timestamp=" + new Date(buffer.oldest.time).toISOString();
  sendCmd("CHATHISTORY", "BEFORE", buffer.name, ref, String(historyLimit()));
}

export function handleBatch(msg) {
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

export function inHistory(msg) {
  let ref = msg.tags.batch;
  while (ref) {
    const batch = state.batches.get(ref);
    if (!batch) return false;
    if (batch.type.endsWith("chathistory")) return true;
    ref = batch.parent;
  }
  return false;
}
