// One message as the page shows it: who and when, the body (the server's sanitised HTML, or
// text), its files, link previews and reactions, and the actions one may take on it.

import { h, serverHtml, time, nameOf } from "./view.js";

const QUICK = ["👍", "❤️", "😂", "🎉"];

// The body alone (also for the side panel's lists).
export function body(m) {
  if (m.deleted || m.erased) return h("span", { class: "deleted" }, m.erased ? "(erased)" : "(deleted)");
  if (m.html) return h("div", { class: "body" }, serverHtml(m.html));
  return h("div", { class: "body" }, h("p", {}, m.body ?? ""));
}

// `view`: {me, base, admin, pinned: Set of ids}; `act`: what the buttons do
// ({react, thread, edit, remove, pin, edits}, each called with the message).
export function render(m, view, act) {
  const mine = m.sender_id === view.me;
  const live = !m.pending && !m.deleted && !m.erased;
  const pinned = view.pinned.has(m.id);
  const actions = live ? h("span", { class: "actions" },
    QUICK.map((e) => h("button", { type: "button", class: "link", "aria-label": `React ${e}`, onclick: () => act.react(m, e) }, e)),
    h("button", { type: "button", class: "link thread-link", onclick: () => act.thread(m) }, m.reply_count ? `${m.reply_count} ${m.reply_count > 1 ? "replies" : "reply"}` : "Reply in thread"),
    view.admin && h("button", { type: "button", class: "link", onclick: () => act.pin(m, !pinned) }, pinned ? "Unpin" : "Pin"),
    mine && h("button", { type: "button", class: "link", onclick: () => act.edit(m) }, "Edit"),
    mine && h("button", { type: "button", class: "link", onclick: () => act.remove(m) }, "Delete")) : null;
  return h("li", { class: `message${mine ? " mine" : ""}${m.pending ? " pending" : ""}`, "data-id": m.id, "data-seq": m.seq },
    h("span", { class: "who" }, nameOf(m.sender_id)), time(m.created_at),
    pinned ? h("span", { class: "pin", title: "Pinned" }, " 📌 pinned") : null,
    m.edited_at && live ? h("button", { type: "button", class: "link edited", onclick: () => act.edits(m), "aria-label": "Edited: show the edit history" }, "(edited)") : null,
    m.pending ? h("span", { class: "muted" }, " sending…") : null,
    actions, body(m), live && attachments(m, view.base), live && previews(m, view.base),
    m.reactions.length ? h("div", { class: "reactions" }, m.reactions.map((r) =>
      h("button", { type: "button", "aria-pressed": r.me ? "true" : "false", "aria-label": `${r.emoji} ${r.count}`, onclick: () => act.react(m, r.emoji) }, `${r.emoji} ${r.count}`))) : null);
}

function attachments(m, base) {
  if (!m.attachments?.length) return null;
  return h("div", { class: "attachments" }, m.attachments.map((a) => {
    const url = base + a.url;
    if (a.thumbnail_url) {
      return h("a", { href: url, target: "_blank", rel: "noopener" },
        h("img", { src: base + a.thumbnail_url, alt: a.name, width: a.width, height: a.height, loading: "lazy" }));
    }
    return h("a", { href: url, target: "_blank", rel: "noopener", download: a.name }, `📎 ${a.name} (${Math.ceil(a.size / 1024)} KB)`);
  }));
}

// Link previews: the page's title, description and image (natter fetched the image: it is
// loaded from natter, never from the site).
function previews(m, base) {
  const safe = (m.previews || []).filter((p) => /^https?:\/\//i.test(p.url) && (p.title || p.description));
  if (!safe.length) return null;
  return h("div", { class: "previews" }, safe.map((p) => h("a", { class: "preview-card", href: p.url, target: "_blank", rel: "noopener noreferrer nofollow" },
    p.image_url ? h("img", { src: base + p.image_url, alt: "", width: p.image_width, height: p.image_height, loading: "lazy" }) : null,
    h("span", {},
      p.site_name ? h("span", { class: "muted site" }, p.site_name) : null,
      p.title ? h("strong", {}, p.title) : null,
      p.description ? h("span", { class: "muted" }, p.description) : null))));
}
