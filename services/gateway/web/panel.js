// The side panel: a thread (its root, its replies live and paged, a composer that replies in
// it), a message's edit history, a room's pins, or the results of a message search (matches
// highlighted, paged; a click opens the message in its room).

import { $, h, time, nameOf, notSent } from "./view.js";
import { body } from "./message.js";

let chat, openRoom;
let thread = null; // the root message whose thread is shown
let pinsOf = null; // the room whose pins are shown
let shownAt = 0; // each showing of the panel: what an earlier one answers late is dropped

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
  thread = null;
  pinsOf = null;
  return ++shownAt;
}

export function close() {
  shownAt++;
  $("panel").hidden = true;
  thread = null;
  pinsOf = null;
}

function item(m, ...extra) {
  return h("li", { class: "message", "data-id": m.id }, h("span", { class: "who" }, nameOf(m.sender_id)), time(m.created_at), ...extra, body(m));
}

// A "more" button at the end of the list that loads the next page once.
function more(label, load) {
  const li = h("li", {}, h("button", { type: "button", class: "secondary more", onclick: async () => { li.remove(); await load(); } }, label));
  $("panel-list").append(li);
}

export async function openThread(root) {
  const mine = show("Thread", true);
  thread = root;
  const page = async (after) => {
    const answer = await chat.get(`/v1/messages/${root.id}/thread?limit=50${after ? `&after=${after}` : ""}`);
    if (mine !== shownAt) return;
    if (!after) $("panel-list").append(item(answer.root));
    $("panel-list").append(...answer.replies.filter((m) => !shown(m.id)).map((m) => item(m)));
    if (answer.has_more && answer.replies.length) more("Show more replies", () => page(answer.replies.at(-1).seq));
  };
  await page(null);
  $("panel-compose").focus();
}

const shown = (id) => $("panel-list").querySelector(`[data-id="${CSS.escape(id)}"]`);

// A live post: shown if it replies in the open thread.
export function posted(m) {
  if (!thread || m.thread_root_id !== thread.id || shown(m.id)) return;
  const moreButton = $("panel-list").querySelector(".more");
  if (moreButton) return; // not at the thread's end yet: it comes with the next page
  $("panel-list").append(item(m));
}

function reply() {
  const text = $("panel-compose").value.trim();
  if (!text || !thread) return;
  $("panel-compose").value = "";
  chat.send(thread.room_id, text, { thread_root_id: thread.id, format: "markdown" }).catch(notSent);
}

// The versions of a message, oldest first (the original, then each edit).
export async function showEdits(m) {
  const mine = show("Edit history", false);
  const answer = await chat.get(`/v1/messages/${m.id}/edits`).catch((e) => ({ error: e }));
  if (mine !== shownAt) return;
  if (answer.error) { $("panel-list").append(h("li", { class: "error" }, answer.error.message)); return; }
  $("panel-list").append(...answer.versions.map((v, i) =>
    h("li", { class: "message" }, h("span", { class: "who" }, i ? `Edit ${i}` : "Original"), time(v.at), body(v))));
}

// A room's pins, newest first; a click shows the message in the room.
export async function showPins(room) {
  const mine = show(`Pinned in ${room.title}`, false);
  pinsOf = room;
  const answer = await chat.get(`/v1/rooms/${room.id}/pins`).catch(() => ({ pins: [] }));
  if (mine !== shownAt) return;
  if (!answer.pins.length) $("panel-list").append(h("li", { class: "muted" }, "Nothing is pinned"));
  $("panel-list").append(...answer.pins.map((p) => h("li", { class: "message result" },
    h("button", { type: "button", class: "link", onclick: () => openRoom(room.id, p.message.seq) },
      h("span", { class: "who" }, nameOf(p.message.sender_id)), time(p.message.created_at)),
    h("span", { class: "muted" }, ` pinned by ${nameOf(p.pinned_by)}`), body(p.message))));
}

export function pinsChanged(room) {
  if (pinsOf?.id === room.id) showPins(room);
}

// `highlight` is raw text with <mark>…</mark> around matches: split on those, never parsed.
export function highlighted(text) {
  const parts = text.split(/<mark>|<\/mark>/);
  return parts.map((part, i) => (i % 2 ? h("mark", {}, part) : part));
}

async function search(q) {
  if (!q) return;
  const mine = show(`Search: ${q}`, false);
  const page = async (cursor) => {
    let answer;
    try {
      answer = await chat.get(`/v1/search?q=${encodeURIComponent(q)}&limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      if (mine !== shownAt) return;
    } catch (e) {
      $("panel-list").append(h("li", { class: "error" }, e.message));
      return;
    }
    if (!answer.results.length && !cursor) $("panel-list").append(h("li", { class: "muted" }, "Nothing found"));
    $("panel-list").append(...answer.results.map((r) => h("li", { class: "message result" },
      h("button", { type: "button", class: "link", onclick: () => openRoom(r.room_id, r.message.seq) },
        h("span", { class: "who" }, nameOf(r.message.sender_id)), time(r.message.created_at)),
      h("div", { class: "body" }, h("p", {}, highlighted(r.highlight || r.message.body || ""))))));
    if (answer.next_cursor) more("More results", () => page(answer.next_cursor));
  };
  await page(null);
}
