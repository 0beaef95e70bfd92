// One's own profile and status: the name in the sidebar opens a dialog that changes the
// display name and status text (PATCH /v1/me) and how one shows to others (online, away,
// busy, invisible: kept by natter.js and set again after reconnects).

import { $, presence, remember } from "./view.js";

let chat;

export function init(client) {
  chat = client;
  $("me-button").addEventListener("click", openDialog);
  $("profile-cancel").addEventListener("click", () => $("profile").close());
  $("profile-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("profile-error").textContent = "";
    try {
      await save();
      $("profile").close();
    } catch (err) {
      $("profile-error").textContent = err.field ? `${err.field}: ${err.message}` : err.message;
    }
  });
}

async function openDialog() {
  const me = await chat.get("/v1/me").catch(() => chat.user);
  remember(me);
  $("profile-name").value = me.display_name || "";
  $("profile-text").value = me.status_text || "";
  $("profile-presence").value = chat.presence?.status || "online";
  const settings = await chat.get("/v1/me/settings").catch(() => null);
  $("profile-requests").checked = !!settings?.dm_requests;
  $("profile-error").textContent = "";
  $("profile").showModal();
  $("profile-name").focus();
}

async function save() {
  const display_name = $("profile-name").value.trim();
  const status_text = $("profile-text").value.trim();
  const me = await chat.patch("/v1/me", { display_name, status_text }); // "" clears it
  remember(me);
  await chat.patch("/v1/me/settings", { dm_requests: $("profile-requests").checked });
  const status = $("profile-presence").value;
  await chat.setPresence(status, status_text);
  presence.set(me.id, { status, text: status_text });
  show(me);
}

// The sidebar's line about oneself.
export function show(me = chat.user) {
  if (!me) return;
  const status = chat.presence?.status || "online";
  $("me-name").textContent = me.display_name || me.username;
  $("me-dot").className = `dot ${status}`;
  const text = me.status_text ?? chat.presence?.text;
  $("me-status").textContent = [status === "online" ? "" : status, text].filter(Boolean).join(": ");
}
