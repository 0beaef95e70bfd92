// Read and delivered marks in the open conversation: every member's positions, read from the
// receipts endpoint on opening and moved by `read.updated` and `delivered.updated` events.
// One's newest message says how far it got: "Delivered to 2 · Read by 1" (in a direct
// conversation: "Delivered" or "Read").

let positions = new Map(); // user id -> {read, delivered}

// Every member's positions in a room, to `use` once it is still the open room.
export async function fetch(chat, roomId) {
  const answer = await chat.get(`/v1/rooms/${roomId}/receipts`).catch(() => ({ receipts: [] }));
  return answer.receipts;
}

export function use(list) {
  positions = new Map();
  for (const r of list) move(r.user_id, r.last_read_seq, Math.max(r.delivered_seq || 0, r.last_read_seq));
}

function move(user, read, delivered) {
  const p = positions.get(user) || { read: 0, delivered: 0 };
  const next = { read: Math.max(p.read, read), delivered: Math.max(p.delivered, delivered, read) };
  positions.set(user, next);
  return next.read !== p.read || next.delivered !== p.delivered;
}

// Applies a room event (at `seq`); true when a position moved. As the server counts: a new
// member starts with everything before their join read; one who left is not counted.
export function apply(seq, event) {
  const d = event.data;
  if (event.type === "member.joined" || event.type === "member.invited") return move(d.user_id, seq, seq);
  if (["member.left", "member.kicked", "member.banned"].includes(event.type)) return positions.delete(d.user_id);
  if (event.type === "read.updated") return move(event.actor_id, d.seq, 0);
  if (event.type === "delivered.updated") {
    let moved = false;
    for (const p of d.positions || []) moved = move(p.user_id, 0, p.seq) || moved;
    return moved;
  }
  return false;
}

// What the others' devices did with the event at `seq`; `direct`: a conversation of two.
export function line(seq, me, direct) {
  let delivered = 0, read = 0;
  for (const [user, p] of positions) {
    if (user === me) continue;
    if (p.delivered >= seq) delivered++;
    if (p.read >= seq) read++;
  }
  if (direct) return read ? "Read" : delivered ? "Delivered" : "Sent";
  return `Delivered to ${delivered} · Read by ${read}`;
}
