// Small DOM helpers: elements are built with text nodes, never from user text as HTML. The
// one exception is `serverHtml`: Markdown the server rendered and sanitised, parsed into a
// detached document (scripts there never run, and the page's CSP forbids inline script).

export const $ = (id) => document.getElementById(id);

// h("button", {class: "x", onclick: f}, "text", child...)
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const ALLOWED = new Set(["P", "BR", "STRONG", "EM", "DEL", "CODE", "PRE", "A", "UL", "OL", "LI", "BLOCKQUOTE", "SPAN", "H1", "H2", "H3", "H4", "H5", "H6", "HR", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "MARK"]);

// The server's sanitised HTML as nodes; anything unexpected becomes its text.
export function serverHtml(html) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  const out = document.createDocumentFragment();
  const copy = (node, into) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) { into.append(child.textContent); continue; }
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      if (!ALLOWED.has(child.tagName)) { into.append(child.textContent); continue; }
      const el = document.createElement(child.tagName);
      if (child.tagName === "A") {
        const href = child.getAttribute("href") || "";
        if (/^(https?:|mailto:)/i.test(href)) el.setAttribute("href", href);
        el.setAttribute("rel", "noopener noreferrer nofollow");
        el.setAttribute("target", "_blank");
      }
      const cls = child.getAttribute("class");
      if (cls && /^[\w -]+$/.test(cls)) el.className = cls;
      copy(child, el);
      into.append(el);
    }
  };
  copy(doc.body, out);
  return out;
}

export function time(iso) {
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  const text = today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  return h("time", { datetime: iso, title: d.toLocaleString() }, text);
}

export function setStatus(text) {
  const el = $("status");
  el.textContent = text || "";
  el.hidden = !text;
}

// How people show (user id -> {status, text}), from presence frames.
export const presence = new Map();

// Who people are, by id, filled as they are met.
export const people = new Map();

export function nameOf(id) {
  const p = people.get(id);
  return p ? p.display_name || p.username : "…";
}

export function remember(user) {
  if (user?.id) people.set(user.id, { ...people.get(user.id), ...user });
}

// A send refused for good (a signed-out session keeps its outbox for the next sign-in).
export function notSent(e) {
  if (e.code !== "unauthorized") alert(`Not sent: ${e.message}`);
}
