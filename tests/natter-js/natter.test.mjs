// natter.js's own tests, in Node.js (node:test) against a real natter: NATTER_URL names a
// running gateway (tests/e2e/natter_js.rs starts one in its own namespace and runs this file).
// Connections are cut with a TCP proxy the test closes and opens again, as a network would.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { randomUUID } from "node:crypto";
import { Natter, NatterError, tokenExpiry } from "../../services/gateway/web/natter.js";

const BASE = process.env.NATTER_URL;
assert.ok(BASE, "NATTER_URL names the gateway to test against");
assert.equal(typeof WebSocket, "function", "run with node --experimental-websocket (Node.js 20) or Node.js 22+");

// localStorage's shape, in memory.
class MemoryStorage {
  #items = new Map();
  getItem(key) { return this.#items.has(key) ? this.#items.get(key) : null; }
  setItem(key, value) { this.#items.set(key, String(value)); }
  removeItem(key) { this.#items.delete(key); }
  copy() { const c = new MemoryStorage(); for (const [k, v] of this.#items) c.setItem(k, v); return c; }
}

const unique = (prefix) => `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

// Every client made, closed at the end (each holds a refresh timer).
const clients = [];
after(() => clients.forEach((c) => c.close()));

function client(base, storage) {
  const chat = new Natter({ base, storage });
  clients.push(chat);
  return chat;
}

async function person(base = BASE, storage = new MemoryStorage()) {
  const chat = client(base, storage);
  await chat.register(unique("js"), "password123");
  return chat;
}

// The next `type` event whose detail passes `pass`.
function next(chat, type, pass = () => true, ms = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { chat.removeEventListener(type, on); reject(new Error(`no ${type} in ${ms} ms`)); }, ms);
    const on = (e) => {
      if (!pass(e.detail)) return;
      clearTimeout(timer);
      chat.removeEventListener(type, on);
      resolve(e.detail);
    };
    chat.addEventListener(type, on);
  });
}

async function online(chat) {
  if (chat.status === "online") return;
  const up = next(chat, "status", (s) => s === "online");
  chat.connect();
  await up;
}

async function waitFor(check, what, ms = 15_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Every `message.posted` a client shows, as {seq, body}.
function posts(chat, roomId) {
  const seen = [];
  chat.addEventListener("event", (e) => {
    if (e.detail.room_id === roomId && e.detail.event.type === "message.posted") seen.push({ seq: e.detail.seq, body: e.detail.event.data.body });
  });
  return seen;
}

// A TCP proxy to the gateway that can be cut (every connection closed, new ones refused) and
// restored on the same port.
class CutProxy {
  constructor(target) {
    const url = new URL(target);
    this.target = { host: url.hostname, port: Number(url.port) };
    this.sockets = new Set();
  }

  async start() {
    await this.#listen(0);
    this.base = `http://127.0.0.1:${this.port}`;
    return this;
  }

  #listen(port) {
    this.server = net.createServer((client) => {
      if (this.swallow) {
        // Taken and never answered, nor closed: a connection hung half-open.
        this.swallowed = (this.swallowed || 0) + 1;
        this.sockets.add(client);
        client.on("close", () => this.sockets.delete(client));
        client.on("error", () => client.destroy());
        return;
      }
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    return new Promise((resolve) => this.server.listen(port, "127.0.0.1", () => {
      this.port = this.server.address().port;
      resolve();
    }));
  }

  async cut() {
    const closed = new Promise((r) => this.server.close(r));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  restore() { return this.#listen(this.port); }
  async stop() { await this.cut(); }
}

async function dm(a, b) {
  return a.post("/v1/dms", { user_ids: [b.user.id] });
}

// History once the read model has applied the log up to `minSeq`.
async function history(chat, roomId, minSeq = 0) {
  return (await chat.get(`/v1/rooms/${roomId}/messages?limit=100&min_seq=${minSeq}`)).messages;
}

test("request/reply, events and errors", async () => {
  const alice = await person();
  const bob = await person();
  await online(alice);
  const room = await dm(alice, bob);
  const followed = await alice.subscribe(room.id);
  assert.equal(typeof followed.last_seq, "number");
  assert.equal(followed.epoch, alice.epoch);
  const seen = posts(alice, room.id);

  const ack = await alice.send(room.id, "hello **bob**", { format: "markdown" });
  assert.equal(ack.duplicate, false);
  await waitFor(() => seen.length === 1, "her own post");
  assert.deepEqual(seen, [{ seq: ack.seq, body: "hello **bob**" }]);

  // Errors keep the protocol's code and field, over the socket and over REST.
  await assert.rejects(alice.request({ type: "send", room_id: randomUUID(), client_msg_id: "has spaces", body: "x" }),
    (e) => e instanceof NatterError && e.code === "invalid" && e.field === "client_msg_id");
  await assert.rejects(alice.request({ type: "send", room_id: randomUUID(), client_msg_id: randomUUID(), body: "x" }),
    (e) => e instanceof NatterError && e.code === "not_found");
  await assert.rejects(alice.get(`/v1/rooms/${randomUUID()}`),
    (e) => e instanceof NatterError && e.status === 404 && e.code === "not_found");
  assert.ok(tokenExpiry(alice.token) > Date.now() / 1000);
  alice.close();
});

test("a cut connection comes back with every missed event once, in order, and sends what waited", async () => {
  const proxy = await new CutProxy(BASE).start();
  const alice = await person(proxy.base);
  const bob = await person();
  await online(alice);
  const room = await dm(alice, bob);
  await alice.subscribe(room.id);
  const seen = posts(alice, room.id);
  const statuses = [];
  alice.addEventListener("status", (e) => statuses.push(e.detail));

  await proxy.cut();
  await next(alice, "status", (s) => s === "reconnecting");
  const bodies = [];
  for (let i = 1; i <= 20; i++) {
    bodies.push(`missed ${i}`);
    await bob.post(`/v1/rooms/${room.id}/messages`, { body: `missed ${i}`, client_msg_id: randomUUID() });
  }
  const offline = alice.send(room.id, "written offline");
  assert.equal(alice.outbox.length, 1);
  await assert.rejects(alice.request({ type: "ping" }), (e) => e.code === "unavailable");

  await proxy.restore();
  const ack = await offline;
  await waitFor(() => seen.length === 21, "20 missed posts and her own");
  const seqs = seen.map((p) => p.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), "in seq order");
  assert.equal(new Set(seqs).size, 21, "each once");
  assert.deepEqual(seen.filter((p) => p.body.startsWith("missed")).map((p) => p.body), bodies);
  assert.equal(seen.find((p) => p.body === "written offline").seq, ack.seq);
  assert.deepEqual(alice.outbox, []);
  assert.deepEqual(statuses, ["reconnecting", "online"]);

  // A frame seen already (a replay overlapping the live feed) is not shown again.
  const last = seen.at(-1);
  const frame = { type: "event", room_id: room.id, seq: last.seq, event: { type: "message.posted", data: { body: last.body } } };
  alice.socket.onmessage({ data: JSON.stringify(frame) });
  assert.equal(seen.length, 21);
  alice.close();
  await proxy.stop();
});

test("a socket the server never answers is given up and opened again", async () => {
  const proxy = await new CutProxy(BASE).start();
  const storage = new MemoryStorage();
  await person(proxy.base, storage);
  const alice = new Natter({ base: proxy.base, storage, openWaitMs: 500 });
  clients.push(alice);
  const statuses = [];
  alice.addEventListener("status", (e) => statuses.push(e.detail));
  proxy.swallow = true;
  alice.connect();
  await waitFor(() => proxy.swallowed >= 2, "a second try once the first was given up");
  proxy.swallow = false;
  await next(alice, "status", (s) => s === "online");
  assert.deepEqual(statuses.slice(0, 2), ["connecting", "reconnecting"]);
  alice.close();
  await proxy.stop();
});

test("the outbox outlives a reload, and a send whose ack was lost is not doubled", async () => {
  const proxy = await new CutProxy(BASE).start();
  const storage = new MemoryStorage();
  const alice = await person(proxy.base, storage);
  const bob = await person();
  await online(alice);
  const room = await dm(alice, bob);
  await alice.subscribe(room.id);

  // Written offline in two tabs, then both are closed: both sends are in storage (one tab
  // does not write over the other's).
  await proxy.cut();
  await next(alice, "status", (s) => s === "reconnecting");
  const tab = client(proxy.base, storage);
  alice.send(room.id, "before the reload").catch(() => {});
  tab.send(room.id, "from another tab").catch(() => {});
  alice.close();
  tab.close();
  const stored = JSON.parse(storage.getItem(`natter.outbox.${alice.user.id}`));
  assert.deepEqual(stored.map((i) => i.body), ["before the reload", "from another tab"]);

  // Another send, acked, but the page is "reloaded" from storage as it was before the ack.
  const second = client(proxy.base, storage);
  assert.equal(second.user.id, alice.user.id, "the session is kept");
  assert.deepEqual(second.outbox.map((i) => i.body), ["before the reload", "from another tab"]);
  await proxy.restore();
  const sent = next(second, "outbox", (items) => items.length === 0);
  await online(second);
  await sent;
  const pending = second.send(room.id, "acked once");
  const beforeAck = storage.copy();
  const ack = await pending;
  assert.equal(ack.duplicate, false);
  second.close();

  // A stored send the server refuses for good (its room is gone, say) is said as `refused`.
  const key = `natter.outbox.${alice.user.id}`;
  const gone = { room_id: randomUUID(), client_msg_id: randomUUID(), body: "to a room that is gone" };
  beforeAck.setItem(key, JSON.stringify([...JSON.parse(beforeAck.getItem(key)), gone]));
  const third = client(proxy.base, beforeAck);
  assert.deepEqual(third.outbox.map((i) => i.body), ["acked once", "to a room that is gone"]);
  const refused = next(third, "refused");
  const again = next(third, "outbox", (items) => items.length === 0);
  await online(third);
  await again;
  const { body, error } = await refused;
  assert.equal(body, "to a room that is gone");
  assert.equal(error.code, "not_found");
  assert.equal(beforeAck.getItem(key), null, "nothing left in storage");
  third.close();

  const bodies = (await history(bob, room.id, ack.seq)).map((m) => m.body);
  assert.deepEqual(bodies, ["before the reload", "from another tab", "acked once"], "each once");
  await proxy.stop();
});

test("a room that cannot be resumed says reset, with the seq to reload from", async () => {
  const alice = await person();
  const bob = await person();
  await online(alice);
  const room = await dm(alice, bob);
  await alice.subscribe(room.id);
  await alice.send(room.id, "one");
  // As if the log had been rebuilt since: the epoch the client holds is not the server's.
  alice.rooms.get(room.id).epoch = "another-epoch";
  await bob.post(`/v1/rooms/${room.id}/messages`, { body: "two", client_msg_id: randomUUID() });
  const reset = next(alice, "reset", (d) => d.room_id === room.id);
  alice.socket.close();
  const { last_seq } = await reset;
  const newest = (await history(alice, room.id)).at(-1);
  assert.equal(newest.body, "two");
  assert.ok(last_seq >= newest.seq, `reset at ${last_seq}, newest post ${newest.seq}`);
  assert.equal(alice.rooms.get(room.id).epoch, alice.epoch);
  alice.close();
});

test("tokens are refreshed in place, and a session ended elsewhere signs out", async () => {
  const storage = new MemoryStorage();
  const alice = await person(BASE, storage);
  await online(alice);
  const spent = alice.session.refresh_token;
  await alice.refresh();
  assert.notEqual(alice.session.refresh_token, spent);
  assert.equal(JSON.parse(storage.getItem("natter.session")).refresh_token, alice.session.refresh_token, "stored");
  assert.equal((await alice.get("/v1/me")).id, alice.user.id);
  assert.equal(alice.status, "online");

  // A spent refresh token presented again (stolen, say) ends the session: the socket is
  // closed, the client's own refresh is refused, and it signs out with the server's reason.
  const signedOut = next(alice, "signedout");
  await assert.rejects(alice.api("POST", "/v1/auth/refresh", { refresh_token: spent }, { auth: false }), (e) => e.status === 401);
  const { reason } = await signedOut;
  assert.ok(reason, "the server's reason is passed on");
  assert.equal(alice.status, "signedout");
  assert.equal(storage.getItem("natter.session"), null);
});
