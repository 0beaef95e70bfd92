// The conversation list (by activity, with unread and mention counts and the last message),
// the requests waiting (conversations and rooms from people one has not answered, to accept
// or decline), finding people and rooms, opening direct conversations, creating and joining
// rooms.

import { $, h, nameOf, presence, remember } from "./view.js";
import * as messages from "./messages.js";

let chat;
let rooms = [];
let requests = [];
let findTimer = null;

export function init(client) {
  chat = client;
  $("find").addEventListener("input", () => {
    clearTimeout(findTimer);
    findTimer = setTimeout(find, 250);
  });
  $("find-form").addEventListener("submit", (e) => { e.preventDefault(); find(); });
  $("new-room-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("new-room").value.trim();
    if (!name) return;
    try {
      const room = await chat.post("/v1/rooms", { name, visibility: "public" });
      $("new-room").value = "";
      await load();
      openRoom(room.id);
    } catch (err) {
      alert(err.message);
    }
  });
  // A post moves its room up with its counts and preview, from the event itself; only a
  // notice (a room one was added to) reloads the list, at most every second.
  let again = null;
  const soon = () => { if (!again) again = setTimeout(() => { again = null; load().catch(() => {}); }, 1000); };
  chat.addEventListener("event", (e) => posted(e.detail));
  chat.addEventListener("notice", soon);
  document.addEventListener("natter:read", (e) => {
    const room = rooms.find((r) => r.id === e.detail.room_id);
    if (room) Object.assign(room, { unread: 0, mentions: 0 });
    render();
  });
  chat.addEventListener("presence", render);
}

function posted({ room_id, event }) {
  if (event.type !== "message.posted" || event.data.thread_root_id) return;
  const i = rooms.findIndex((r) => r.id === room_id);
  if (i < 0) return;
  const [room] = rooms.splice(i, 1);
  room.last_message = event.data;
  if (event.actor_id !== chat.user.id && room_id !== messages.current()?.id) {
    room.unread = (room.unread || 0) + 1;
    if ((event.data.mentions || []).includes(chat.user.id)) room.mentions = (room.mentions || 0) + 1;
  }
  rooms.unshift(room);
  render();
}

// A dot for a direct conversation's other person: online, away, busy or offline.
function dot(room) {
  const other = room.kind === "dm" && room.members?.length === 1 ? room.members[0].user_id : null;
  if (!other) return null;
  const status = presence.get(other)?.status || "offline";
  return h("span", { class: `dot ${status}`, role: "img", "aria-label": status, title: status });
}

export function title(room) {
  if (room.kind === "dm") return (room.members || []).map((m) => m.display_name).join(", ") || "Direct conversation";
  return `# ${room.name}`;
}

export async function load() {
  const [answer, waiting] = await Promise.all([
    chat.get("/v1/rooms?limit=100"),
    chat.get("/v1/rooms?scope=requests&limit=100").catch(() => ({ rooms: [] })),
  ]);
  rooms = answer.rooms;
  requests = waiting.rooms;
  for (const r of rooms) for (const m of r.members || []) remember({ id: m.user_id, display_name: m.display_name });
  // Every room of the list is followed, so that it moves up as messages come.
  for (const r of rooms) if (!chat.rooms.has(r.id)) chat.subscribe(r.id, r.last_seq);
  chat.followPresence(rooms.flatMap((r) => (r.kind === "dm" ? (r.members || []).map((m) => m.user_id) : [])));
  render();
}

// A request: who it is from (or the room's name), opened to read, accepted or declined
// (a room is left; a conversation's sender is blocked, as a conversation cannot be left).
function request(r) {
  const act = async (how) => {
    try {
      if (how === "accept") await chat.post(`/v1/rooms/${r.id}/accept`);
      else if (r.kind === "dm") for (const m of r.members || []) await chat.put(`/v1/me/blocks/${m.user_id}`);
      else await chat.post(`/v1/rooms/${r.id}/leave`);
      await load();
      if (how === "accept") openRoom(r.id);
    } catch (e) {
      $("requests-box").querySelector("h2").textContent = `Requests: ${e.message}`;
    }
  };
  return h("li", {}, h("button", { type: "button", onclick: () => messages.open({ ...r, title: title(r) }) }, h("span", {}, title(r))),
    h("span", { class: "row" },
      h("button", { type: "button", onclick: () => act("accept") }, "Accept"),
      h("button", { type: "button", class: "secondary", onclick: () => act("decline") }, r.kind === "dm" ? "Block" : "Decline")));
}

function render() {
  $("requests-box").hidden = requests.length === 0;
  $("requests").replaceChildren(...requests.map(request));
  const open = messages.current()?.id;
  $("rooms").replaceChildren(...rooms.map((r) => {
    const last = r.last_message;
    const text = last?.deleted ? "(deleted)" : last?.body || (last?.attachments?.length ? `📎 ${last.attachments.map((a) => a.name).join(", ")}` : "");
    const preview = last ? `${nameOf(last.sender_id)}: ${text}` : "No messages yet";
    const unread = r.id === open ? 0 : r.unread;
    return h("li", {}, h("button", { type: "button", "aria-current": r.id === open ? "true" : "false", onclick: () => openRoom(r.id) },
      h("span", {}, dot(r), title(r)),
      h("span", {},
        r.mentions && r.id !== open ? h("span", { class: "badge mention", "aria-label": `${r.mentions} mentions` }, `@${r.mentions}`) : null,
        unread ? h("span", { class: "badge", "aria-label": `${unread} unread` }, unread) : null),
      h("span", { class: "preview" }, preview)));
  }));
}

export async function openRoom(id, seq) {
  let room = rooms.find((r) => r.id === id);
  if (!room) {
    await load();
    room = rooms.find((r) => r.id === id) || (await chat.get(`/v1/rooms/${id}`));
  }
  await messages.open({ ...room, title: title(room) }, seq);
  render();
}

async function find() {
  const q = $("find").value.trim();
  if (!q) { $("found").replaceChildren(); return; }
  const [users, publicRooms] = await Promise.all([
    chat.get(`/v1/users?q=${encodeURIComponent(q)}&limit=8`).catch(() => ({ users: [] })),
    chat.get("/v1/rooms?scope=public").catch(() => ({ rooms: [] })),
  ]);
  const lower = q.toLowerCase();
  const found = publicRooms.rooms.filter((r) => r.name.toLowerCase().includes(lower)).slice(0, 8);
  $("found").replaceChildren(
    ...users.users.filter((u) => u.id !== chat.user.id).map((u) => {
      remember(u);
      return h("li", {}, h("button", { type: "button", onclick: () => dm(u) },
        h("span", {}, `${u.display_name} `, h("span", { class: "muted" }, `@${u.username}`)), h("span", { class: "muted" }, "Message")));
    }),
    ...found.map((r) => h("li", {}, h("button", { type: "button", onclick: () => join(r) },
      h("span", {}, `# ${r.name}`), h("span", { class: "muted" }, rooms.some((x) => x.id === r.id) ? "Open" : "Join")))),
  );
}

async function dm(user) {
  try {
    const room = await chat.post("/v1/dms", { user_ids: [user.id] });
    clearFind();
    await load();
    openRoom(room.id);
  } catch (e) {
    alert(e.message);
  }
}

async function join(room) {
  try {
    if (!rooms.some((x) => x.id === room.id)) await chat.post(`/v1/rooms/${room.id}/join`);
    clearFind();
    await load();
    openRoom(room.id);
  } catch (e) {
    alert(e.message);
  }
}

function clearFind() {
  $("find").value = "";
  $("found").replaceChildren();
}
