// The side panel: a thread (its root, its replies live, a composer that replies in it), or the
// results of a message search (matches highlighted; a click opens the message in its room).

import { $, h, time, nameOf, serverHtml } from "./view.js";

let chat, openRoom;
let thread = null; // the root message whose thread is shown

export function init(client, open) {
  chat = client;
  openRoom = open;
  $("panel-close").addEventListener("click", close);
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); search($("search").value.trim()); });
  $("panel-composer").addEventListener("submit", (e) => { e.preventDefault(); reply(); });
  $("panel-compose").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); reply(); }
  });
}

function show(title, composer) {
  $("panel").hidden = false;
  $("panel-title").textContent = title;
  $("panel-composer").hidden = !composer;
  $("panel-list").replaceChildren();
}

export function close() {
  $("panel").hidden = true;
  thread = null;
}

function item(m) {
  const body = m.deleted || m.erased ? h("span", { class: "deleted" }, "(deleted)")
    : m.html ? h("div", { class: "body" }, serverHtml(m.html)) : h("div", { class: "body" }, h("p", {}, m.body ?? ""));
  return h("li", { class: "message", "data-id": m.id }, h("span", { class: "who" }, nameOf(m.sender_id)), time(m.created_at), body);
}

export async function openThread(root) {
  thread = root;
  show("Thread", true);
  const answer = await chat.get(`/v1/messages/${root.id}/thread?limit=100`);
  if (thread !== root) return;
  $("panel-list").append(item(answer.root), ...answer.replies.map(item));
  $("panel-compose").focus();
}

// A live post: shown if it replies in the open thread.
export function posted(m) {
  if (!thread || m.thread_root_id !== thread.id) return;
  if ($("panel-list").querySelector(`[data-id="${CSS.escape(m.id)}"]`)) return;
  $("panel-list").append(item(m));
}

function reply() {
  const text = $("panel-compose").value.trim();
  if (!text || !thread) return;
  $("panel-compose").value = "";
  chat.send(thread.room_id, text, { thread_root_id: thread.id, format: "markdown" }).catch((e) => alert(`Not sent: ${e.message}`));
}

// `highlight` is raw text with <mark>…</mark> around matches: split on those, never parsed.
export function highlighted(text) {
  const parts = text.split(/<mark>|<\/mark>/);
  return parts.map((part, i) => (i % 2 ? h("mark", {}, part) : part));
}

async function search(q) {
  if (!q) return;
  show(`Search: ${q}`, false);
  let answer;
  try {
    answer = await chat.get(`/v1/search?q=${encodeURIComponent(q)}&limit=30`);
  } catch (e) {
    $("panel-list").append(h("li", { class: "error" }, e.message));
    return;
  }
  if (!answer.results.length) $("panel-list").append(h("li", { class: "muted" }, "Nothing found"));
  $("panel-list").append(...answer.results.map((r) => h("li", { class: "message result" },
    h("button", { type: "button", class: "link", onclick: () => openRoom(r.room_id, r.message.seq) },
      h("span", { class: "who" }, nameOf(r.message.sender_id)), time(r.message.created_at)),
    h("div", { class: "body" }, h("p", {}, highlighted(r.highlight || r.message.body || ""))))));
}
