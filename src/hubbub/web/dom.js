// Small DOM helpers shared by the modules that draw the page.

// --- DOM helpers ------------------------------------------------------------------------

export const $ = (id) => document.getElementById(id);

/** An element with a class and text content (never HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
export function nickClass(nick) {
  let h = 0;
  for (const ch of nick.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return "nick nick-c" + (h % 8);
}

export function two(n) {
  return String(n).padStart(2, "0");
}
