// The web client's entry: signing in, the connection's state, and the two halves of the page
// (rooms.js: the conversation list; messages.js: the open conversation).

import { Natter } from "./natter.js";
import { $, notSent, setStatus, presence, remember } from "./view.js";
import * as rooms from "./rooms.js";
import * as messages from "./messages.js";
import * as panel from "./panel.js";
import * as profile from "./profile.js";

const chat = new Natter();
window.natter = chat; // for the console, and for tests

const STATUS = { connecting: "Connecting…", reconnecting: "Reconnecting…", online: "", signedout: "" };
chat.addEventListener("status", (e) => setStatus(STATUS[e.detail] ?? ""));
// Signed out: the page starts again (nothing of the last user's views stays), saying why.
chat.addEventListener("signedout", (e) => {
  sessionStorage.setItem("natter.signedout", e.detail?.reason ? `Signed out: ${e.detail.reason}` : "");
  location.reload();
});
// Presence first into the shared map, then the views that show it (their listeners come later).
chat.addEventListener("presence", (e) => presence.set(e.detail.user_id, { status: e.detail.status, text: e.detail.text }));
// A send written before a reload that the server then refused (its room is gone, say).
chat.addEventListener("refused", (e) => notSent(e.detail.error));
chat.addEventListener("notice", (e) => {
  const ev = e.detail.event;
  if (ev?.type === "user.profile_updated") remember({ id: ev.actor_id, ...ev.data });
});

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const action = e.submitter?.value || "login";
  const username = $("signin-username").value.trim();
  const password = $("signin-password").value;
  $("signin-error").textContent = "";
  try {
    if (action === "register") await chat.register(username, password);
    else await chat.login(username, password);
    await start();
  } catch (err) {
    $("signin-error").textContent = err.field ? `${err.field}: ${err.message}` : err.message;
  }
});

$("signout").addEventListener("click", () => chat.logout());

function showSignIn(message = "") {
  $("chat").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("signin-username").focus();
}

let started = false;

async function start() {
  $("signin").hidden = true;
  $("chat").hidden = false;
  remember(chat.user);
  if (!started) {
    started = true;
    rooms.init(chat);
    messages.init(chat);
    panel.init(chat, rooms.openRoom);
    profile.init(chat);
  }
  chat.get("/v1/me").then((me) => { remember(me); profile.show(me); }, () => profile.show());
  chat.connect();
  try {
    await rooms.load();
  } catch (err) {
    if (err.status !== 401) setStatus(`Could not load conversations: ${err.message}`);
  }
}

const why = sessionStorage.getItem("natter.signedout") || "";
sessionStorage.removeItem("natter.signedout");
if (chat.session) start();
else showSignIn(why);
