// The open conversation: history (scrolling back loads older pages), live events, sending
// through the outbox, typing, reactions, edits and deletes, read and delivered marks.

import { $, h, serverHtml, time, nameOf, people, remember } from "./view.js";
import * as panel from "./panel.js";

const QUICK = ["👍", "❤️", "😂", "🎉"];
let chat, me, room = null;
let messages = new Map(); // id -> message object
let oldest = null, hasMore = false, loadingOlder = false;
let typists = new Map(); // user id -> timeout
let lastTyping = 0, deliveredSeq = 0, deliveredTimer = null;

export function init(client) {
  chat = client;
  me = chat.user.id;
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  $("compose").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); }
  });
  $("compose").addEventListener("input", () => {
    if (!room || Date.now() - lastTyping < 3000) return;
    lastTyping = Date.now();
    chat.tell({ type: "typing", room_id: room.id, state: "start" });
  });
  $("attach").addEventListener("change", () => attach($("attach").files));
  $("attach-button").addEventListener("click", () => $("attach").click());
  $("messages").addEventListener("scroll", () => {
    if ($("messages").scrollTop < 60) loadOlder();
  });
  // One at a time, in order (an event may wait for a profile).
  let queue = Promise.resolve();
  chat.addEventListener("event", (e) => { queue = queue.then(() => onEvent(e.detail)).catch((err) => console.error(err)); });
  chat.addEventListener("reset", (e) => { if (room && e.detail.room_id === room.id) open(room); });
  chat.addEventListener("typing", (e) => onTyping(e.detail));
  chat.addEventListener("outbox", (e) => {
    const n = e.detail.length;
    $("outbox").textContent = n ? `${n} message${n > 1 ? "s" : ""} waiting to be sent` : "";
  });
}

// Opens a room at its newest messages, or around `seq` (a search result), shown flashing.
export async function open(r, seq) {
  room = r;
  panel.close();
  messages = new Map();
  typists.forEach(clearTimeout);
  typists = new Map();
  renderTyping();
  $("messages").replaceChildren();
  $("room-title").textContent = r.title;
  $("composer").hidden = false;
  // Followed first, then read: nothing falls between the page and the live events (those
  // the page already shows are recognised: posts by id, edits and deletes set what they set,
  // reactions are read back).
  const followed = await chat.subscribe(r.id);
  const wait = followed ? `&min_seq=${followed.last_seq}` : "";
  const [page, members] = await Promise.all([
    chat.get(`/v1/rooms/${r.id}/messages?limit=50${wait}${seq ? `&around=${seq}` : ""}`),
    chat.get(`/v1/rooms/${r.id}/members`).catch(() => ({ members: [] })),
  ]);
  if (room !== r) return;
  for (const m of members.members) remember({ id: m.user_id, username: m.username, display_name: m.display_name });
  await learn(page.messages.map((m) => m.sender_id));
  page.messages.forEach((m) => put(m));
  oldest = page.messages[0]?.seq ?? null;
  hasMore = page.has_more_before;
  // Written here before a reload and not acknowledged yet: shown pending until they are.
  for (const item of chat.outbox) if (item.room_id === r.id && !item.thread_root_id) showPending(item);
  const last = Math.max(page.messages.at(-1)?.seq ?? 0, followed?.last_seq ?? 0);
  const target = seq && [...messages.values()].find((m) => m.seq === seq);
  if (target) {
    target.el.scrollIntoView({ block: "center" });
    target.el.classList.add("flash");
    setTimeout(() => target.el.classList.remove("flash"), 2000);
  } else {
    scrollToEnd();
  }
  markRead(last);
  $("compose").focus();
}

async function loadOlder() {
  if (!room || !hasMore || loadingOlder || oldest === null) return;
  loadingOlder = true;
  const r = room, list = $("messages"), before = list.scrollHeight;
  try {
    const page = await chat.get(`/v1/rooms/${r.id}/messages?before=${oldest}&limit=50`);
    await learn(page.messages.map((m) => m.sender_id));
    if (room !== r) return;
    for (const m of [...page.messages].reverse()) put(m, true);
    oldest = page.messages[0]?.seq ?? oldest;
    hasMore = page.has_more_before;
    list.scrollTop += list.scrollHeight - before;
  } finally {
    loadingOlder = false;
  }
}

function submit() {
  const text = $("compose").value.trim();
  if (!text || !room) return;
  $("compose").value = "";
  chat.tell({ type: "typing", room_id: room.id, state: "stop" });
  lastTyping = 0;
  const r = room;
  chat.send(r.id, text, { format: "markdown" }).catch(notSent);
  // Shown at once, marked pending, until its event comes back.
  const pending = chat.outbox.at(-1);
  if (pending) {
    showPending(pending);
    scrollToEnd();
  }
}

function showPending(item) {
  put({ id: `pending-${item.client_msg_id}`, client_msg_id: item.client_msg_id, sender_id: me, body: item.body, created_at: new Date().toISOString(), reactions: [], pending: true });
}

// A send refused for good (a signed-out session keeps its outbox for the next sign-in).
function notSent(e) {
  if (e.code !== "unauthorized") alert(`Not sent: ${e.message}`);
}

// Profiles of the people among `ids` not met yet (those who left the room, say).
async function learn(ids) {
  const unknown = [...new Set(ids)].filter((id) => id && !people.has(id));
  await Promise.all(unknown.map((id) => chat.get(`/v1/users/${id}`).then(remember, () => remember({ id, username: "someone" }))));
}

async function onEvent({ room_id, seq, event }) {
  if (!room || room_id !== room.id) return;
  const d = event.data;
  if (!people.has(event.actor_id)) await learn([event.actor_id]);
  switch (event.type) {
    case "message.posted": {
      const stuck = $("messages").scrollHeight - $("messages").scrollTop - $("messages").clientHeight < 80;
      const pending = d.client_msg_id && messages.get(`pending-${d.client_msg_id}`);
      if (pending) { pending.el.remove(); messages.delete(`pending-${d.client_msg_id}`); }
      panel.posted(d);
      if (d.thread_root_id) {
        change(d.thread_root_id, (root) => { root.reply_count = (root.reply_count || 0) + 1; });
        break;
      }
      put(d);
      if (stuck || d.sender_id === me) scrollToEnd();
      clearTyping(d.sender_id);
      if (document.hasFocus()) markRead(seq);
      break;
    }
    case "message.edited": change(d.message_id, (m) => Object.assign(m, { body: d.body, html: d.html, edited_at: event.occurred_at })); break;
    case "message.deleted": change(d.message_id, (m) => Object.assign(m, { body: null, html: null, deleted: true })); break;
    case "reaction.added":
    case "reaction.removed": {
      // Read back as history has them once it has this event (counts, and whether mine).
      const shown = messages.get(d.message_id);
      if (!shown?.seq) break;
      const page = await chat.get(`/v1/rooms/${room_id}/messages?around=${shown.seq}&limit=1&min_seq=${seq}`).catch(() => null);
      const fresh = page?.messages.find((m) => m.id === d.message_id);
      if (fresh) change(d.message_id, (m) => { m.reactions = fresh.reactions; });
      break;
    }
    default:
      break;
  }
  deliveredSeq = Math.max(deliveredSeq, seq);
  if (!deliveredTimer) deliveredTimer = setTimeout(flushDelivered, 1000);
}

function flushDelivered() {
  deliveredTimer = null;
  if (room && deliveredSeq) chat.tell({ type: "delivered", room_id: room.id, seq: deliveredSeq });
}

function markRead(seq) {
  if (room && seq) chat.tell({ type: "read", room_id: room.id, seq });
  document.dispatchEvent(new CustomEvent("natter:read", { detail: { room_id: room?.id } }));
}

function change(id, f) {
  const m = messages.get(id);
  if (!m) return;
  f(m);
  const el = render(m);
  m.el.replaceWith(el);
  m.el = el;
}

function put(m, atTop = false) {
  // Replies live in their thread (the panel); the root shows how many there are.
  if (messages.has(m.id) || m.thread_root_id) return;
  m.reactions ||= [];
  m.el = render(m);
  messages.set(m.id, m);
  const list = $("messages");
  if (atTop) list.prepend(m.el); else list.append(m.el);
}

function render(m) {
  const mine = m.sender_id === me;
  let body;
  if (m.deleted || m.erased) body = h("span", { class: "deleted" }, m.erased ? "(erased)" : "(deleted)");
  else if (m.html) body = h("div", { class: "body" }, serverHtml(m.html));
  else body = h("div", { class: "body" }, h("p", {}, m.body ?? ""));
  const actions = m.pending || m.deleted || m.erased ? null : h("span", { class: "actions" },
    QUICK.map((e) => h("button", { type: "button", class: "link", "aria-label": `React ${e}`, onclick: () => toggle(m, e) }, e)),
    h("button", { type: "button", class: "link thread-link", onclick: () => panel.openThread(m) }, m.reply_count ? `${m.reply_count} ${m.reply_count > 1 ? "replies" : "reply"}` : "Reply in thread"),
    mine && h("button", { type: "button", class: "link", onclick: () => edit(m) }, "Edit"),
    mine && h("button", { type: "button", class: "link", onclick: () => remove(m) }, "Delete"));
  return h("li", { class: `message${mine ? " mine" : ""}${m.pending ? " pending" : ""}`, "data-id": m.id, "data-seq": m.seq },
    h("span", { class: "who" }, nameOf(m.sender_id)), time(m.created_at),
    m.edited_at && !m.deleted ? h("span", { class: "edited" }, " (edited)") : null,
    m.pending ? h("span", { class: "muted" }, " sending…") : null,
    actions, body, attachments(m),
    m.reactions.length ? h("div", { class: "reactions" }, m.reactions.map((r) =>
      h("button", { type: "button", "aria-pressed": r.me ? "true" : "false", "aria-label": `${r.emoji} ${r.count}`, onclick: () => toggle(m, r.emoji) }, `${r.emoji} ${r.count}`))) : null);
}

function toggle(m, emoji) {
  const on = !m.reactions.find((r) => r.emoji === emoji)?.me;
  chat.request({ type: "react", message_id: m.id, emoji, on }).catch((e) => alert(e.message));
}

function edit(m) {
  const area = h("textarea", { "aria-label": "Edit message", rows: 2 });
  area.value = m.body ?? "";
  const form = h("form", { class: "row" }, area, h("button", { type: "submit" }, "Save"),
    h("button", { type: "button", class: "secondary", onclick: () => form.replaceWith(render(m)) }, "Cancel"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    chat.request({ type: "edit", message_id: m.id, body: area.value, format: "markdown" }).catch((err) => alert(err.message));
  });
  m.el.append(form);
  area.focus();
}

function remove(m) {
  if (confirm("Delete this message?")) chat.request({ type: "delete", message_id: m.id }).catch((e) => alert(e.message));
}

// Uploads the chosen files, then sends them in one message (with what is typed, if anything).
async function attach(files) {
  if (!room || !files.length) return;
  const r = room;
  try {
    const ids = [];
    for (const file of files) {
      const form = new FormData();
      form.append("file", file, file.name);
      ids.push((await chat.api("POST", "/v1/uploads", form)).id);
    }
    const text = $("compose").value.trim();
    $("compose").value = "";
    await chat.send(r.id, text, { attachment_ids: ids, format: "markdown" });
  } catch (e) {
    notSent(e);
  } finally {
    $("attach").value = "";
  }
}

function attachments(m) {
  if (!m.attachments?.length || m.deleted || m.erased) return null;
  return h("div", { class: "attachments" }, m.attachments.map((a) => {
    const url = chat.base + a.url;
    if (a.thumbnail_url) {
      return h("a", { href: url, target: "_blank", rel: "noopener" },
        h("img", { src: chat.base + a.thumbnail_url, alt: a.name, width: a.width, height: a.height, loading: "lazy" }));
    }
    return h("a", { href: url, target: "_blank", rel: "noopener", download: a.name }, `📎 ${a.name} (${Math.ceil(a.size / 1024)} KB)`);
  }));
}

function onTyping({ room_id, user_id, state }) {
  if (!room || room_id !== room.id || user_id === me) return;
  clearTyping(user_id);
  if (state === "start") typists.set(user_id, setTimeout(() => clearTyping(user_id), 6000));
  renderTyping();
}

function clearTyping(user) {
  clearTimeout(typists.get(user));
  if (typists.delete(user)) renderTyping();
}

function renderTyping() {
  const names = [...typists.keys()].map(nameOf);
  $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}

function scrollToEnd() {
  const list = $("messages");
  list.scrollTop = list.scrollHeight;
}

export const current = () => room;
export { people };
