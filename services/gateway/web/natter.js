// natter.js: a small client for natter's REST and WebSocket API (docs/PROTOCOL.md).
//
//   import { Natter } from "./natter.js";
//   const chat = new Natter({ base: "https://chat.example.com" });
//   await chat.login("alice", "password123");
//   chat.addEventListener("event", (e) => console.log(e.detail));   // {room_id, seq, event}
//   chat.connect();
//   chat.subscribe(roomId);                // resumes from the last seq seen, across reconnects
//   await chat.send(roomId, "hello");      // queued while offline, retried with its client_msg_id
//
// What it does for you: signs sockets in with their first frame (no token in the URL),
// request/reply by id, subscriptions resumed with `since`/`epoch` after a reconnect (each event
// once, in order: duplicates dropped by seq; `reset` when the server could not resume and
// history must be reloaded), reconnects with exponential backoff and jitter, pings at the
// server's heartbeat (a socket that never says hello, or goes silent, is given up and opened
// again; `openWaitMs`, default 15 s, is how long a new one may take), refreshes the token
// before it expires, and an outbox of sends that waits for the connection and retries with the
// same `client_msg_id`, so that nothing is lost or doubled; the outbox is kept in `storage` too, so that a page reloaded (or a process restarted)
// while offline still sends what was written. Events: `status` ("connecting" | "online" | "reconnecting" | "signedout"), `event`,
// `reset` ({room_id}), `notice`, `typing`, `presence`, `delivered`, `outbox` (the queue
// changed), `refused` (a send from storage the server refused for good, with `error`),
// `signedout`, `frame` (every other frame).
//
// Copy it into your app: it has no dependencies. `WebSocket`, `fetch` and `storage` can be
// passed in (Node.js, tests).

export class NatterError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || "unavailable";
    this.field = error?.field;
    this.retryAfterMs = error?.retry_after_ms;
  }
}

const SESSION_KEY = "natter.session";
const OUTBOX_KEY = "natter.outbox";
const PRESENCE_KEY = "natter.presence";
// A socket with no `hello` this long after it was opened, or silent this many heartbeats, is
// given up and opened again: a connection can hang half-open (a proxy or a NAT that dropped
// it, a server that never answered) without ever closing.
const OPEN_WAIT_MS = 15_000;
const SILENT_HEARTBEATS = 3;

export class Natter extends EventTarget {
  constructor({ base, WebSocket: WS, fetch: fetchFn, storage, delivered = true, openWaitMs = OPEN_WAIT_MS } = {}) {
    super();
    this.base = (base || globalThis.location?.origin || "").replace(/\/$/, "");
    this.WS = WS || globalThis.WebSocket;
    this.fetch = fetchFn || globalThis.fetch.bind(globalThis);
    this.storage = storage === undefined ? globalThis.localStorage : storage;
    this.session = this.#load();
    this.status = "signedout";
    this.rooms = new Map(); // room id -> {since, epoch}
    // {room_id, client_msg_id, body, thread_root_id?, attachment_ids?, format?, resolve?, reject?}
    this.outbox = this.#loadOutbox();
    this.pending = new Map(); // request id -> {resolve, reject}
    this.followed = new Set(); // users whose presence is followed (again after a reconnect)
    this.unseen = new Set(); // followed users the server does not show (yet): asked again when they write
    this.presence = this.#stored(this.#presenceKey()); // {status, text} as set by setPresence
    this.autoDelivered = delivered; // tell the server what this device received
    this.openWaitMs = openWaitMs; // how long a new socket may take to say hello
    this.delivered = new Map(); // room id -> highest seq received, not told yet
    this.nextId = 1;
    this.epoch = null;
    this.attempt = 0;
    this.socket = null;
    this.timers = {};
    if (this.session) this.#scheduleRefresh();
  }

  get user() { return this.session?.user || null; }
  get token() { return this.session?.token || null; }

  // ---- REST -------------------------------------------------------------------------------

  async api(method, path, body, { auth = true, raw = false } = {}) {
    const headers = {};
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    let payload;
    if (body instanceof Blob || body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await this.fetch(this.base + path, { method, headers, body: payload });
    if (raw) return response;
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      if (response.status === 401 && auth && this.session) this.#signedOut();
      throw new NatterError(response.status, data?.error);
    }
    return data;
  }

  get(path) { return this.api("GET", path); }
  post(path, body = {}) { return this.api("POST", path, body); }
  patch(path, body) { return this.api("PATCH", path, body); }
  put(path, body = {}) { return this.api("PUT", path, body); }
  del(path, body) { return this.api("DELETE", path, body); }

  async register(username, password, display_name) {
    const body = { username, password, device: "web" };
    if (display_name) body.display_name = display_name;
    return this.#signedIn(await this.api("POST", "/v1/auth/register", body, { auth: false }));
  }

  async login(username, password) {
    const body = { username, password, device: "web" };
    return this.#signedIn(await this.api("POST", "/v1/auth/login", body, { auth: false }));
  }

  // Signs out here and at the server; what the outbox still held is dropped (a shared
  // computer keeps nothing). A session ended by the server keeps it for the next sign-in.
  async logout() {
    const outbox = this.#outboxKey();
    try { await this.post("/v1/auth/logout"); } catch { /* signed out either way */ }
    if (this.session) this.#signedOut();
    this.storage?.removeItem(outbox);
  }

  // A new token from the refresh token (each is good once: a second use ends the session).
  async refresh() {
    const refresh_token = this.session?.refresh_token;
    if (!refresh_token) return;
    const fresh = await this.api("POST", "/v1/auth/refresh", { refresh_token }, { auth: false });
    this.session = { ...this.session, ...fresh };
    this.#save();
    this.#scheduleRefresh();
    if (this.status === "online") this.request({ type: "auth", token: this.token }).catch(() => {});
  }

  // ---- The socket ------------------------------------------------------------------------

  connect() {
    if (!this.session || this.socket) return;
    this.#setStatus(this.attempt ? "reconnecting" : "connecting");
    const url = this.base.replace(/^http/, "ws") + "/v1/ws";
    const socket = new this.WS(url);
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: this.token }));
    socket.onmessage = (m) => { this.heard = Date.now(); this.#frame(JSON.parse(m.data)); };
    socket.onclose = (e) => this.#closed(socket, e.code, e.reason);
    socket.onerror = () => {};
    clearTimeout(this.timers.open);
    this.timers.open = setTimeout(() => { if (this.status !== "online") this.#giveUp(socket); }, this.openWaitMs);
  }

  // A socket that does not answer: closed, and opened again as after a drop.
  #giveUp(socket) {
    if (socket !== this.socket) return;
    socket.onclose = null;
    try { socket.close(); } catch { /* closing already */ }
    this.#closed(socket, 4000, "no answer from the server");
  }

  disconnect() {
    const socket = this.socket;
    this.socket = null;
    clearTimeout(this.timers.retry);
    clearTimeout(this.timers.open);
    clearTimeout(this.timers.delivered);
    clearTimeout(this.timers.flush);
    this.timers.delivered = null;
    clearInterval(this.timers.ping);
    if (socket) socket.close(1000);
  }

  // Done with this client: the socket closed, no reconnect, no refresh (the session stays
  // stored for the next page).
  close() {
    this.disconnect();
    clearTimeout(this.timers.refresh);
  }

  // Sends a frame with an id; resolves with the reply's data, rejects with a NatterError.
  request(frame) {
    return new Promise((resolve, reject) => {
      if (this.status !== "online") return reject(new NatterError(0, { code: "unavailable", message: "not connected" }));
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ ...frame, id }));
    });
  }

  // Fire-and-forget frames (typing, read, delivered) when online.
  tell(frame) {
    if (this.status === "online") this.socket.send(JSON.stringify(frame));
  }

  // Follows a room from `since` (or from now): events arrive as `event`, each once, in order.
  // Following a room already followed changes nothing. Resolves with the subscribe reply
  // ({last_seq, epoch, recovered, replayed}) once the server has it (null while offline).
  subscribe(roomId, since) {
    const known = this.rooms.get(roomId);
    if (known) return known.subscribed || Promise.resolve(null);
    this.rooms.set(roomId, { since: since ?? null, epoch: this.epoch, subscribed: null });
    if (this.status === "online") return this.#subscribe(roomId);
    return Promise.resolve(null);
  }

  // Follows users' presence: their presence now, then `presence` events on each change, also
  // after reconnects.
  followPresence(userIds) {
    const fresh = userIds.filter((id) => !this.followed.has(id));
    fresh.forEach((id) => this.followed.add(id));
    if (fresh.length && this.status === "online") this.#follow(fresh);
  }

  async #follow(ids) {
    for (let i = 0; i < ids.length; i += 100) {
      try {
        const answer = await this.request({ type: "presence_subscribe", user_ids: ids.slice(i, i + 100) });
        for (const p of answer.users) {
          // Offline without last_seen: someone not shown to us, until they choose a room we
          // share (answering in it is choosing it).
          if (p.status === "offline" && !p.last_seen) this.unseen.add(p.user_id);
          else this.unseen.delete(p.user_id);
          this.#emit("presence", { type: "presence", ...p });
        }
      } catch { /* not shared any more, or offline: followed again after the next hello */ }
    }
  }

  unsubscribe(roomId) {
    this.rooms.delete(roomId);
    this.tell({ type: "unsubscribe", room_id: roomId });
  }

  // Posts a message: queued in the outbox, sent when online, retried after a reconnect with
  // the same client_msg_id until acknowledged. Resolves with {message_id, seq, duplicate}.
  send(roomId, body, { thread_root_id, attachment_ids, format } = {}) {
    return new Promise((resolve, reject) => {
      const item = { room_id: roomId, client_msg_id: newId(), body, thread_root_id, attachment_ids, format, resolve, reject, sending: false };
      this.outbox.push(item);
      this.#store((stored) => [...stored, item]);
      this.#emit("outbox", this.outbox.slice());
      this.#flush();
    });
  }

  // ---- Inside ----------------------------------------------------------------------------

  #frame(frame) {
    switch (frame.type) {
      case "hello":
        this.epoch = frame.epoch;
        this.attempt = 0;
        this.#setStatus("online");
        clearTimeout(this.timers.open);
        clearInterval(this.timers.ping);
        {
          const every = Math.max(1000, frame.heartbeat_ms * 0.8);
          const socket = this.socket;
          // Every ping is answered: a socket silent for several pings is dead.
          this.timers.ping = setInterval(() => {
            if (Date.now() - this.heard > SILENT_HEARTBEATS * every) this.#giveUp(socket);
            else this.tell({ type: "ping" });
          }, every);
        }
        for (const roomId of this.rooms.keys()) this.#subscribe(roomId);
        if (this.followed.size) this.#follow([...this.followed]);
        this.#tellDelivered();
        if (this.presence) this.tell({ type: "presence", ...this.presence });
        this.#flush();
        break;
      case "reply": {
        const waiting = this.pending.get(frame.id);
        if (!waiting) return;
        this.pending.delete(frame.id);
        if (frame.ok) waiting.resolve(frame.data);
        else waiting.reject(new NatterError(0, frame.error));
        break;
      }
      case "event": {
        const room = this.rooms.get(frame.room_id);
        if (!room) return;
        if (room.since !== null && frame.seq <= room.since) return; // seen already
        room.since = frame.seq;
        this.#received(frame);
        this.#seenWriting(frame.event);
        this.#emit("event", frame);
        break;
      }
      case "pong":
        break;
      default:
        this.#emit(["notice", "typing", "presence", "delivered"].includes(frame.type) ? frame.type : "frame", frame);
    }
  }

  // A followed user the server did not show wrote: writing in a room makes it theirs, so they
  // may be shown now; asked again once the server has taken the post in.
  #seenWriting(event) {
    const who = event?.actor_id;
    if (event?.type !== "message.posted" || !this.unseen.has(who)) return;
    this.unseen.delete(who);
    setTimeout(() => { if (this.status === "online") this.#follow([who]); }, 1000);
  }

  // Delivered marks, batched: at most one frame per room per second, cumulative. Receipts'
  // own events are not acknowledged (that would answer each with another).
  #received({ room_id, seq, event }) {
    if (!this.autoDelivered || event?.type === "read.updated" || event?.type === "delivered.updated") return;
    this.delivered.set(room_id, Math.max(seq, this.delivered.get(room_id) || 0));
    this.timers.delivered ||= setTimeout(() => this.#tellDelivered(), 1000);
  }

  // Kept while offline, told after the next hello.
  #tellDelivered() {
    this.timers.delivered = null;
    if (this.status !== "online") return;
    for (const [room_id, seq] of this.delivered) this.tell({ type: "delivered", room_id, seq });
    this.delivered.clear();
  }

  // Sets one's presence (`online`, `away`, `busy` or `invisible`, with an optional text),
  // kept for this user and set again after each reconnect.
  setPresence(status, text) {
    this.presence = { status, text: text || "" }; // "" clears a text set before
    this.storage?.setItem(this.#presenceKey(), JSON.stringify(this.presence));
    return this.request({ type: "presence", ...this.presence });
  }

  #subscribe(roomId) {
    const room = this.rooms.get(roomId);
    room.subscribed = this.#subscribeNow(roomId, room);
    return room.subscribed;
  }

  async #subscribeNow(roomId, room) {
    const frame = { type: "subscribe", room_id: roomId };
    if (room.since !== null) Object.assign(frame, { since: room.since, epoch: room.epoch || this.epoch });
    try {
      const reply = await this.request(frame);
      room.epoch = reply.epoch;
      if (room.since !== null && !reply.recovered) {
        // Too much was missed, or the log was rebuilt: history over REST, then live from here.
        room.since = reply.last_seq;
        this.#emit("reset", { room_id: roomId, last_seq: reply.last_seq });
      } else if (room.since === null) {
        room.since = reply.last_seq;
      }
      return reply;
    } catch (e) {
      if (e.code !== "unavailable") this.rooms.delete(roomId);
      this.#emit("frame", { type: "error", room_id: roomId, error: e });
      return null;
    }
  }

  // Sends in order: one send per room on the wire at a time, the next once it is acked. (Sent
  // together, a first one refused for now, say rate limited, and retried would land after the
  // second.)
  #flush() {
    if (this.status !== "online") return;
    const busy = new Set(this.outbox.filter((i) => i.sending).map((i) => i.room_id));
    for (const item of this.outbox) {
      if (busy.has(item.room_id)) continue;
      busy.add(item.room_id);
      item.sending = true;
      const { room_id, client_msg_id, body, thread_root_id, attachment_ids, format } = item;
      const frame = { type: "send", room_id, client_msg_id, body };
      if (format) frame.format = format;
      if (thread_root_id) frame.thread_root_id = thread_root_id;
      if (attachment_ids?.length) frame.attachment_ids = attachment_ids;
      this.request(frame).then(
        (ack) => { this.#settle(item, () => item.resolve?.(ack)); this.#flush(); },
        (e) => {
          item.sending = false;
          // Not connected, or the server could not take it now: the same id, later.
          if (e.code === "unavailable" || e.code === "rate_limited") {
            clearTimeout(this.timers.flush);
            this.timers.flush = setTimeout(() => this.#flush(), e.retryAfterMs || 1000);
            return;
          }
          // Refused for good. A send read back from storage has no caller waiting: said as
          // `refused`, so that the app can tell the person.
          this.#settle(item, () => (item.reject ? item.reject(e) : this.#emit("refused", { ...item, error: e })));
          this.#flush();
        },
      );
    }
  }

  #settle(item, done) {
    this.outbox = this.outbox.filter((i) => i !== item);
    this.#store((stored) => stored.filter((i) => i.client_msg_id !== item.client_msg_id));
    this.#emit("outbox", this.outbox.slice());
    done();
  }

  // The stored outbox, changed item by item (read, changed, written at once): another tab of
  // the same user keeps its own items. A send is in `storage` before it is on the wire. Two
  // tabs loading the same item both send it: with one client_msg_id, it is stored once.
  #store(change) {
    if (!this.storage || !this.user) return;
    const keep = change(this.#storedOutbox()).map(({ room_id, client_msg_id, body, thread_root_id, attachment_ids, format }) =>
      ({ room_id, client_msg_id, body, thread_root_id, attachment_ids, format }));
    if (keep.length) this.storage.setItem(this.#outboxKey(), JSON.stringify(keep));
    else this.storage.removeItem(this.#outboxKey());
  }

  #storedOutbox() {
    const items = this.#stored(this.#outboxKey());
    return Array.isArray(items) ? items.filter((i) => i?.room_id && i.client_msg_id) : [];
  }

  #outboxKey() { return `${OUTBOX_KEY}.${this.user?.id}`; }
  #presenceKey() { return `${PRESENCE_KEY}.${this.user?.id}`; }

  #loadOutbox() {
    return this.user ? this.#storedOutbox().map((i) => ({ ...i, sending: false })) : [];
  }

  #closed(socket, code, reason) {
    if (socket !== this.socket) return;
    this.socket = null;
    clearTimeout(this.timers.open);
    clearInterval(this.timers.ping);
    for (const { reject } of this.pending.values()) reject(new NatterError(0, { code: "unavailable", message: "the connection was lost" }));
    this.pending.clear();
    for (const item of this.outbox) item.sending = false;
    for (const room of this.rooms.values()) room.subscribed = null;
    if (code === 4001) {
      // The token was refused: a fresh one, if the session still stands; else signed out.
      this.refresh().then(() => this.#retry(), () => this.#signedOut(reason));
      this.#setStatus("reconnecting");
      return;
    }
    if (!this.session) return;
    this.#setStatus("reconnecting");
    this.#retry();
  }

  #retry() {
    if (!this.session) return;
    const ceiling = Math.min(30_000, 500 * 2 ** this.attempt++);
    const wait = ceiling / 2 + Math.random() * (ceiling / 2);
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.connect(), wait);
  }

  #signedIn(answer) {
    if (this.session) this.#signedOut(); // another sign-in replaces this one
    this.session = answer;
    this.#save();
    this.#scheduleRefresh();
    // What this user wrote while signed out (or before a reload) is sent once connected.
    this.presence = this.#stored(this.#presenceKey());
    this.outbox = this.#loadOutbox();
    this.#emit("outbox", this.outbox.slice());
    return answer;
  }

  #signedOut(reason) {
    const dropped = this.outbox;
    this.outbox = [];
    const error = new NatterError(401, { code: "unauthorized", message: "signed out" });
    for (const item of dropped) item.reject?.(error);
    if (dropped.length) this.#emit("outbox", []);
    this.session = null;
    this.presence = null;
    this.delivered.clear();
    this.followed.clear();
    this.unseen.clear();
    this.#save();
    this.disconnect();
    clearTimeout(this.timers.refresh);
    this.rooms.clear();
    this.#setStatus("signedout");
    this.#emit("signedout", { reason });
  }

  #scheduleRefresh() {
    clearTimeout(this.timers.refresh);
    const exp = tokenExpiry(this.token);
    if (!exp || !this.session?.refresh_token) return;
    // A minute before expiry (or halfway, for short tokens).
    const left = exp * 1000 - Date.now();
    const wait = Math.max(1000, Math.min(left - 60_000, left / 2));
    this.timers.refresh = setTimeout(() => this.refresh().catch(() => {}), wait);
  }

  #load() { return this.#stored(SESSION_KEY); }

  #stored(key) {
    try { return JSON.parse(this.storage?.getItem(key) || "null"); } catch { return null; }
  }

  #save() {
    if (!this.storage) return;
    if (this.session) this.storage.setItem(SESSION_KEY, JSON.stringify(this.session));
    else this.storage.removeItem(SESSION_KEY);
  }

  #setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.#emit("status", status);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

// The `exp` of a JWT (seconds since the epoch), read without checking it: for timing only.
export function tokenExpiry(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).exp;
  } catch {
    return null;
  }
}

function newId() {
  return globalThis.crypto?.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}
