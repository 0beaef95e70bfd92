// The open conversation: history (scrolling back loads older pages; after a jump, scrolling
// down loads newer ones up to the live end), live events, sending through the outbox, typing,
// reactions, edits and deletes, pins, read marks and how far one's messages got (natter.js
// sends the delivered marks).

import { $, h, nameOf, notSent, people, remember } from "./view.js";
import { render } from "./message.js";
import * as panel from "./panel.js";
import * as header from "./header.js";
import * as receipts from "./receipts.js";

let chat, me, room = null;
let messages = new Map(); // id -> message object
let oldest = null, hasMore = false, loadingOlder = false;
// After a jump into the past, the page ends at `newest` and the live end is further: live
// posts are not shown below it until the pages between are loaded.
let newest = null, gap = false, loadingNewer = false, liveSeq = 0;
// Each opening is a generation: what an earlier one (or an earlier page load) answers late is
// dropped. Posts that come while the page loads, or while a gap is open, are held, then shown.
let generation = 0, loading = false, held = [];
let typists = new Map(); // user id -> timeout
let lastTyping = 0;
const view = { me: null, base: "", admin: false, pinned: new Set() };
const act = {
  react: toggle,
  thread: (m) => panel.openThread(m),
  edit,
  remove,
  pin: (m, on) => (on ? chat.post(`/v1/rooms/${room.id}/pins`, { message_id: m.id }) : chat.del(`/v1/rooms/${room.id}/pins/${m.id}`)).catch((e) => alert(e.message)),
  edits: (m) => panel.showEdits(m),
};

export function init(client) {
  chat = client;
  me = view.me = chat.user.id;
  view.base = chat.base;
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
  $("room-pins").addEventListener("click", () => room && panel.showPins(room));
  $("gap-latest").addEventListener("click", () => room && open(room));
  $("messages").addEventListener("scroll", () => {
    const list = $("messages");
    if (list.scrollTop < 60) loadOlder();
    if (list.scrollHeight - list.scrollTop - list.clientHeight < 60) loadNewer();
  });
  // One at a time, in order (an event may wait for a profile).
  let queue = Promise.resolve();
  chat.addEventListener("event", (e) => { queue = queue.then(() => onEvent(e.detail)).catch((err) => console.error(err)); });
  chat.addEventListener("reset", (e) => { if (room && e.detail.room_id === room.id) open(room); });
  chat.addEventListener("typing", (e) => onTyping(e.detail));
  chat.addEventListener("refused", (e) => dropPending(e.detail.client_msg_id));
  chat.addEventListener("presence", () => header.render(me));
  chat.addEventListener("outbox", (e) => {
    const n = e.detail.length;
    $("outbox").textContent = n ? `${n} message${n > 1 ? "s" : ""} waiting to be sent` : "";
  });
}

// Opens a room at its newest messages, or around `seq` (a search result or a pin), flashing.
export async function open(r, seq) {
  const mine = ++generation;
  room = r;
  loading = true;
  held = [];
  oldest = newest = null;
  hasMore = gap = false;
  liveSeq = 0;
  renderGap();
  panel.close();
  messages = new Map();
  typists.forEach(clearTimeout);
  typists = new Map();
  renderTyping();
  $("messages").replaceChildren();
  $("composer").hidden = false;
  // Followed first, then read up to at least the last event this client has of the room:
  // nothing falls between the page and the live events (posts that come meanwhile are held;
  // edits and deletes set what they set; reactions are read back).
  const followed = await chat.subscribe(r.id);
  const seen = Math.max(followed?.last_seq ?? 0, chat.rooms.get(r.id)?.since ?? 0);
  const [page, members, pins, positions] = await Promise.all([
    chat.get(`/v1/rooms/${r.id}/messages?limit=50&min_seq=${seen}${seq ? `&around=${seq}` : ""}`),
    chat.get(`/v1/rooms/${r.id}/members`).catch(() => ({ members: [] })),
    chat.get(`/v1/rooms/${r.id}/pins`).catch(() => ({ pins: [] })),
    receipts.fetch(chat, r.id),
  ]);
  await learn(page.messages.map((m) => m.sender_id));
  if (mine !== generation) return;
  receipts.use(positions);
  for (const m of members.members) remember({ id: m.user_id, username: m.username, display_name: m.display_name });
  view.admin = ["owner", "admin"].includes(members.members.find((m) => m.user_id === me)?.role);
  view.pinned = new Set(pins.pins.map((p) => p.message.id));
  header.open(chat, r, members.members);
  page.messages.forEach((m) => put(m));
  oldest = page.messages[0]?.seq ?? null;
  hasMore = page.has_more_before;
  newest = page.messages.at(-1)?.seq ?? null;
  gap = page.has_more_after;
  liveSeq = Math.max(liveSeq, seen);
  loading = false;
  renderGap();
  if (!gap) release();
  // Written here before a reload and not acknowledged yet: shown pending until they are.
  for (const item of chat.outbox) if (item.room_id === r.id && !item.thread_root_id) showPending(item);
  renderReceipt();
  const target = seq && [...messages.values()].find((m) => m.seq === seq);
  if (target) {
    target.el.scrollIntoView({ block: "center" });
    target.el.classList.add("flash");
    setTimeout(() => target.el.classList.remove("flash"), 2000);
  } else {
    scrollToEnd();
  }
  markRead(gap ? newest : Math.max(newest ?? 0, liveSeq));
  $("compose").focus();
}

// The posts held while the page loaded or a gap was open, shown (those on the page already
// are recognised by id).
function release() {
  const posts = held;
  held = [];
  for (const d of posts) put(d);
  if (posts.length) {
    newest = Math.max(newest ?? 0, ...posts.map((d) => d.seq));
    scrollToEnd();
  }
}

async function loadOlder() {
  if (!room || loading || !hasMore || loadingOlder || oldest === null) return;
  loadingOlder = true;
  const mine = generation, list = $("messages"), before = list.scrollHeight;
  try {
    const page = await chat.get(`/v1/rooms/${room.id}/messages?before=${oldest}&limit=50`);
    await learn(page.messages.map((m) => m.sender_id));
    if (mine !== generation) return;
    for (const m of [...page.messages].reverse()) put(m, true);
    oldest = page.messages[0]?.seq ?? oldest;
    hasMore = page.has_more_before;
    list.scrollTop += list.scrollHeight - before;
  } finally {
    loadingOlder = false;
  }
}

// The pages between a jump and the live end; once there, live posts show again.
async function loadNewer() {
  if (!room || loading || !gap || loadingNewer || newest === null) return;
  loadingNewer = true;
  const mine = generation;
  try {
    const page = await chat.get(`/v1/rooms/${room.id}/messages?after=${newest}&limit=50&min_seq=${liveSeq}`);
    await learn(page.messages.map((m) => m.sender_id));
    if (mine !== generation) return;
    page.messages.forEach((m) => put(m));
    newest = page.messages.at(-1)?.seq ?? newest;
    gap = page.has_more_after;
    renderGap();
    if (!gap) {
      release();
      markRead(Math.max(newest, liveSeq));
    }
    renderReceipt();
  } finally {
    loadingNewer = false;
  }
}

function renderGap() {
  $("gap").hidden = !gap;
}

function submit() {
  const text = $("compose").value.trim();
  if (!text || !room) return;
  $("compose").value = "";
  chat.tell({ type: "typing", room_id: room.id, state: "stop" });
  lastTyping = 0;
  if (gap) open(room); // one's own post is read at the live end
  chat.send(room.id, text, { format: "markdown" }).catch((e) => { dropPending(pending?.client_msg_id); notSent(e); });
  // Shown at once, marked pending, until its event comes back (or it is refused).
  const pending = chat.outbox.at(-1);
  if (pending && !gap) {
    showPending(pending);
    scrollToEnd();
  }
}

function dropPending(clientMsgId) {
  const pending = clientMsgId && messages.get(`pending-${clientMsgId}`);
  if (pending) { pending.el.remove(); messages.delete(pending.id); }
}

function showPending(item) {
  put({ id: `pending-${item.client_msg_id}`, client_msg_id: item.client_msg_id, sender_id: me, body: item.body, created_at: new Date().toISOString(), reactions: [], pending: true });
}

// Profiles of the people among `ids` not met yet (those who left the room, say).
async function learn(ids) {
  const unknown = [...new Set(ids)].filter((id) => id && !people.has(id));
  await Promise.all(unknown.map((id) => chat.get(`/v1/users/${id}`).then(remember, () => remember({ id, username: "someone" }))));
}

async function onEvent({ room_id, seq, event }) {
  if (!room || room_id !== room.id) return;
  const d = event.data;
  liveSeq = Math.max(liveSeq, seq);
  if (!people.has(event.actor_id)) await learn([event.actor_id]);
  if (event.type.startsWith("member.") && receipts.apply(seq, event)) renderReceipt();
  switch (event.type) {
    case "message.posted": {
      const list = $("messages");
      const stuck = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
      dropPending(d.client_msg_id);
      panel.posted(d);
      if (d.thread_root_id) {
        change(d.thread_root_id, (root) => { root.reply_count = (root.reply_count || 0) + 1; });
        break;
      }
      clearTyping(d.sender_id);
      if (loading || gap) { held.push(d); break; } // shown once the pages before it are
      put(d);
      newest = seq;
      renderReceipt();
      if (stuck || d.sender_id === me) scrollToEnd();
      if (document.hasFocus()) markRead(seq);
      break;
    }
    case "message.edited": change(d.message_id, (m) => Object.assign(m, { body: d.body, html: d.html, edited_at: event.occurred_at })); break;
    case "message.deleted": change(d.message_id, (m) => Object.assign(m, { body: null, html: null, deleted: true })); break;
    case "message.preview_added":
      change(d.message_id, (m) => { m.previews = [...(m.previews || []).filter((p) => p.url !== d.url), d]; });
      break;
    case "message.pinned":
    case "message.unpinned":
      if (event.type === "message.pinned") view.pinned.add(d.message_id); else view.pinned.delete(d.message_id);
      change(d.message_id, () => {});
      panel.pinsChanged(room);
      break;
    case "member.role_changed":
      if (d.user_id === me) { view.admin = ["owner", "admin"].includes(d.role); messages.forEach((m) => change(m.id, () => {})); }
      break;
    case "read.updated":
    case "delivered.updated":
      if (receipts.apply(seq, event)) renderReceipt();
      break;
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
}

// How far one's newest message got, under it.
function renderReceipt() {
  $("messages").querySelectorAll(".receipt").forEach((el) => el.remove());
  const mine = [...messages.values()].filter((m) => m.sender_id === me && m.seq && !m.deleted)
    .reduce((a, m) => (!a || m.seq > a.seq ? m : a), null);
  if (!mine || gap) return;
  const direct = room.kind === "dm" && (room.members?.length ?? 0) <= 1;
  mine.el.append(h("div", { class: "receipt muted" }, receipts.line(mine.seq, me, direct)));
}

function markRead(seq) {
  if (room && seq) chat.tell({ type: "read", room_id: room.id, seq });
  document.dispatchEvent(new CustomEvent("natter:read", { detail: { room_id: room?.id } }));
}

function change(id, f) {
  const m = messages.get(id);
  if (!m) return;
  f(m);
  const el = render(m, view, act);
  const receipt = m.el.querySelector(".receipt");
  if (receipt) el.append(receipt);
  m.el.replaceWith(el);
  m.el = el;
}

function put(m, atTop = false) {
  // Replies live in their thread (the panel); the root shows how many there are.
  if (messages.has(m.id) || m.thread_root_id) return;
  m.reactions ||= [];
  m.el = render(m, view, act);
  messages.set(m.id, m);
  const list = $("messages");
  if (atTop) list.prepend(m.el); else list.append(m.el);
}

function toggle(m, emoji) {
  const on = !m.reactions.find((r) => r.emoji === emoji)?.me;
  chat.request({ type: "react", message_id: m.id, emoji, on }).catch((e) => alert(e.message));
}

function edit(m) {
  const area = h("textarea", { "aria-label": "Edit message", rows: 2 });
  area.value = m.body ?? "";
  const form = h("form", { class: "row" }, area, h("button", { type: "submit" }, "Save"),
    h("button", { type: "button", class: "secondary", onclick: () => form.remove() }, "Cancel"));
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
