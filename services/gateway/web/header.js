// The open conversation's header: its title, who is there (in a direct conversation the
// other person's status and status text; in a room how many members are online), and the
// button that lists its pins.

import { $, presence, nameOf } from "./view.js";

const FOLLOWED_AT_MOST = 100; // members whose presence is followed live, per room
let room = null, members = [];
let onlineElsewhere = 0; // a big room: the count the server gave, not followed live

export async function open(chat, r, memberList) {
  room = r;
  members = memberList.map((m) => m.user_id);
  onlineElsewhere = 0;
  $("room-title").textContent = r.title;
  $("room-pins").hidden = false;
  const answer = await chat.get(`/v1/rooms/${r.id}/presence?limit=${FOLLOWED_AT_MOST}`).catch(() => null);
  if (room !== r) return;
  for (const u of answer?.users || []) presence.set(u.user_id, { status: u.status, text: u.text });
  if (members.length > FOLLOWED_AT_MOST) onlineElsewhere = answer?.online ?? 0;
  else chat.followPresence(members.filter((id) => id !== chat.user.id));
  render(chat.user.id);
}

export function render(me) {
  if (!room) return;
  const others = members.filter((id) => id !== me);
  let text;
  if (room.kind === "dm" && others.length === 1) {
    const p = presence.get(others[0]) || { status: "offline" };
    text = `${nameOf(others[0])} is ${p.status}${p.text ? `: ${p.text}` : ""}`;
  } else if (onlineElsewhere) {
    text = `${onlineElsewhere} online`;
  } else {
    const online = members.filter((id) => ["online", "away", "busy"].includes(presence.get(id)?.status)).length;
    text = `${members.length} member${members.length === 1 ? "" : "s"}, ${online} online`;
  }
  $("room-presence").textContent = text;
}
