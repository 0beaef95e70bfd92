"""Two people chat in the web client, in headless Chromium (Debian's) driven by Playwright.

Run by the end-to-end suite (tests/e2e/web.rs) against a natter it started:
    python3 tests/browser/chat.py http://127.0.0.1:PORT [SCREENSHOT_DIR]

Alice's browser reaches natter through a TCP proxy this script runs and cuts (a browser's
offline mode does not close open WebSockets); Bob's directly. They register, find each other,
open a direct conversation, see Markdown, typing, reactions and edits; then Alice's connection
is cut, Bob sends 20 messages and Alice one (into her outbox), the connection comes back, and
Alice's page must show Bob's 20 once each, in order, and Bob hers once. axe-core (from the
axe-playwright-python package) must find no serious or critical violation on the sign-in page
and on a conversation with a thread and search results open.
"""

import asyncio
import json
import os
import sys
import urllib.request
from urllib.parse import urlparse

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import async_playwright, expect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from cutproxy import Proxy  # noqa: E402

BASE = sys.argv[1]
SHOTS = sys.argv[2] if len(sys.argv) > 2 else None
CHROMIUM = "/usr/bin/chromium"
WAIT = 15_000
# A 2x2 PNG (natter makes a thumbnail of it).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d494844520000000200000002080600000072b60d24"
    "0000001149444154789c63f8cfc0f01f8419600c0047ca07f967596eb7000000"
    "0049454e44ae426082"
)


FRAMES = []


async def sign_up(browser, base, name, errors):
    context = await browser.new_context(viewport={"width": 1100, "height": 700})
    page = await context.new_page()
    if name == "alice":
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: FRAMES.append(f[:160])))
        page.on("websocket", lambda ws: ws.on("framesent", lambda f: FRAMES.append("SENT " + f[:160])))
    page.on("pageerror", lambda e: errors.append(f"{name}: {e}"))
    await page.goto(base + "/")
    if name == "alice":
        await accessible(page, "the sign-in page")
    await page.fill("#signin-username", name)
    await page.fill("#signin-password", "password123")
    await page.click("button[value=register]")
    await expect(page.locator("#chat")).to_be_visible(timeout=WAIT)
    await expect(page.locator("#status")).to_be_hidden(timeout=WAIT)
    return page


def rest(method, path, body=None, token=None):
    """A REST call of someone who is not in a browser."""
    data = None if method == "GET" else json.dumps(body or {}).encode()
    request = urllib.request.Request(BASE + path, method=method, data=data)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read() or b"{}")


async def requests(bob):
    """Bob asks for requests; a stranger's conversation waits in them until he accepts it."""
    await bob.click("#me-button")
    await bob.check("#profile-requests")
    await bob.click("#profile-form button[value=save]")
    await expect(bob.locator("#profile")).to_be_hidden(timeout=WAIT)
    carol = rest("POST", "/v1/auth/register", {"username": "carol", "password": "password123"})
    # Carol shares nothing with Bob (the directory does not show him to her): his id from a
    # sign-in of his own.
    bob_id = rest("POST", "/v1/auth/login", {"username": "bob", "password": "password123"})["user"]["id"]
    rest("POST", "/v1/dms", {"user_ids": [bob_id]}, carol["token"])
    box = bob.locator("#requests-box")
    await expect(box).to_be_visible(timeout=WAIT)
    await expect(box.locator("#requests li")).to_contain_text("carol", timeout=WAIT)
    await expect(bob.locator("#rooms button", has_text="carol")).to_have_count(0)
    await box.get_by_role("button", name="Accept").click()
    await expect(box).to_be_hidden(timeout=WAIT)
    await expect(bob.locator("#rooms button", has_text="carol")).to_have_count(1, timeout=WAIT)


async def accessible(page, what):
    """axe-core finds no serious or critical violation on the page as it is."""
    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{what}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad
    )
    minor = ", ".join(f"{v['id']} ({v['impact']})" for v in results.response["violations"])
    print(f"axe, {what}: no serious violation" + (f"; others: {minor}" if minor else ""))


async def send(page, text):
    await page.fill("#compose", text)
    await page.press("#compose", "Enter")


def bodies(page):
    return page.locator("#messages .message:not(.pending) .body")


async def extras(alice, bob):
    """The edit history, read marks, status, and a room with a pin."""
    reply = alice.locator("#messages .message", has_text="hello alice")
    await reply.get_by_role("button", name="Edited: show the edit history").click()
    await expect(alice.locator("#panel-title")).to_have_text("Edit history", timeout=WAIT)
    await expect(alice.locator("#panel-list .message")).to_have_count(2, timeout=WAIT)
    await expect(alice.locator("#panel-list .message").first).to_contain_text("Original")
    await expect(alice.locator("#panel-list .message").first).to_contain_text("hello alice")
    await expect(alice.locator("#panel-list .message").nth(1)).to_contain_text("hello alice, edited")
    await alice.click("#panel-close")

    # Bob has read Alice's message: under it, she sees "Read".
    await expect(alice.locator("#messages .receipt")).to_have_text("Read", timeout=WAIT)

    # Bob shows as busy, with a status text; Alice sees both.
    await bob.click("#me-button")
    await bob.fill("#profile-text", "at lunch")
    await bob.select_option("#profile-presence", "busy")
    await accessible(bob, "the profile dialog")
    await bob.click("#profile-form button[type=submit]")
    await expect(bob.locator("#profile")).to_be_hidden(timeout=WAIT)
    await expect(bob.locator("#me-status")).to_have_text("busy: at lunch", timeout=WAIT)
    await expect(alice.locator("#room-presence")).to_have_text("bob is busy: at lunch", timeout=WAIT)
    await expect(alice.locator("#rooms .dot")).to_have_attribute("aria-label", "busy", timeout=WAIT)

    # A room: Alice creates it and pins a message; Bob joins and sees the pin.
    await alice.fill("#new-room", "plans")
    await alice.click("#new-room-form button[type=submit]")
    await expect(alice.locator("#room-title")).to_have_text("# plans", timeout=WAIT)
    await send(alice, "meet at noon")
    mine = alice.locator("#messages .message:not(.pending)", has_text="meet at noon")
    await mine.get_by_role("button", name="Pin").click()
    await expect(mine).to_contain_text("pinned", timeout=WAIT)
    await bob.fill("#find", "pla")
    await bob.click("#found button:has-text('# plans')", timeout=WAIT)
    await expect(bob.locator("#room-title")).to_have_text("# plans", timeout=WAIT)
    theirs = bob.locator("#messages .message", has_text="meet at noon")
    await expect(theirs).to_contain_text("pinned", timeout=WAIT)
    await expect(theirs.get_by_role("button", name="Pin")).to_have_count(0)
    await expect(bob.locator("#room-presence")).to_have_text("2 members, 2 online", timeout=WAIT)
    await bob.click("#room-pins")
    await expect(bob.locator("#panel-list .result")).to_contain_text("meet at noon", timeout=WAIT)
    await expect(bob.locator("#panel-list .result")).to_contain_text("pinned by alice")

    # In a room, one's newest message says how far it got.
    await expect(alice.locator("#messages .receipt")).to_have_text("Delivered to 1 · Read by 1", timeout=WAIT)
    if SHOTS:
        await bob.screenshot(path=f"{SHOTS}/web-room-pins.png")
    await bob.click("#panel-close")

    # A jump into the past: the page around it says newer messages are below, and a post
    # made meanwhile is not shown under the old page, but after a jump to the latest.
    await send(bob, "an old one")
    await bob.evaluate("""async () => {
        const room = [...window.natter.rooms.keys()].at(-1);
        for (let i = 1; i <= 60; i++) await window.natter.send(room, `filler ${i}`);
    }""")
    await expect(alice.locator("#messages .body", has_text="filler 60")).to_be_visible(timeout=WAIT)
    await alice.fill("#search", "old")
    await alice.press("#search", "Enter")
    await alice.locator("#panel-list .result").first.get_by_role("button").click()
    await expect(alice.locator("#messages .message.flash")).to_contain_text("an old one", timeout=WAIT)
    await expect(alice.locator("#gap")).to_be_visible(timeout=WAIT)
    await send(bob, "after the jump")
    await expect(bob.locator("#messages .message:not(.pending)", has_text="after the jump")).to_be_visible(timeout=WAIT)
    await asyncio.sleep(0.5)
    await expect(alice.locator("#messages .body", has_text="after the jump")).to_have_count(0)
    await alice.click("#gap-latest")
    await expect(alice.locator("#messages .body", has_text="after the jump")).to_have_count(1, timeout=WAIT)
    await expect(alice.locator("#gap")).to_be_hidden()

    # Both go back to their direct conversation.
    await alice.locator("#rooms button").filter(has_not_text="# plans").click()
    await expect(alice.locator("#room-title")).to_have_text("bob", timeout=WAIT)
    await bob.locator("#rooms button").filter(has_not_text="# plans").click()
    await expect(bob.locator("#room-title")).to_have_text("alice", timeout=WAIT)


async def main():
    url = urlparse(BASE)
    proxy = Proxy((url.hostname, url.port))
    errors = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        alice = await sign_up(browser, f"http://127.0.0.1:{proxy.port}", "alice", errors)
        bob = await sign_up(browser, BASE, "bob", errors)

        # Alice finds Bob by name and writes to him; Markdown is rendered.
        await alice.fill("#find", "bo")
        await alice.click("#found button:has-text('@bob')", timeout=WAIT)
        await expect(alice.locator("#room-title")).to_have_text("bob", timeout=WAIT)
        await send(alice, "hi **bob**")
        await expect(alice.locator("#messages strong")).to_have_text("bob", timeout=WAIT)
        # Bob has not answered: opening a conversation with him shows nothing of him.
        await expect(alice.locator("#rooms .dot")).not_to_have_attribute("aria-label", "online")

        # Bob's list gains the conversation, with the last message.
        await expect(bob.locator("#rooms button")).to_contain_text("hi **bob**", timeout=WAIT)
        await bob.click("#rooms button")
        await expect(bob.locator("#messages strong")).to_have_text("bob", timeout=WAIT)

        # Typing, a reply, a reaction and an edit, each seen by the other.
        await bob.type("#compose", "hel")
        await expect(alice.locator("#typing")).to_have_text("bob is typing…", timeout=WAIT)
        await bob.fill("#compose", "")
        await send(bob, "hello alice")
        await expect(alice.locator("#typing")).to_have_text("", timeout=WAIT)
        reply = alice.locator("#messages .message", has_text="hello alice")
        await expect(reply).to_be_visible(timeout=WAIT)
        # Answering made the conversation his: Alice sees him online now.
        await expect(alice.locator("#rooms .dot")).to_have_attribute("aria-label", "online", timeout=WAIT)
        await reply.get_by_role("button", name="React 👍").click()
        theirs = bob.locator("#messages .message", has_text="hello alice")
        await expect(theirs.locator(".reactions")).to_contain_text("👍 1", timeout=WAIT)
        await theirs.get_by_role("button", name="Edit").click()
        await bob.fill("textarea[aria-label='Edit message']", "hello alice, edited")
        await bob.click("#messages form button[type=submit]")
        await expect(reply).to_contain_text("hello alice, edited", timeout=WAIT)
        await expect(reply).to_contain_text("(edited)", timeout=WAIT)
        await extras(alice, bob)

        # An image: Alice attaches one; both see its thumbnail.
        await alice.set_input_files("#attach", files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PNG}])
        await expect(alice.locator("#messages .attachments img[alt='dot.png']")).to_be_visible(timeout=WAIT)
        await expect(bob.locator("#messages .attachments img[alt='dot.png']")).to_be_visible(timeout=WAIT)
        loaded = await bob.locator("#messages .attachments img[alt='dot.png']").evaluate("img => img.complete && img.naturalWidth > 0")
        assert loaded, "the thumbnail did not load"

        # A thread: Bob replies to Alice's message in it; she sees the count and opens it.
        hers = bob.locator("#messages .message", has_text="hi bob")
        await hers.get_by_role("button", name="Reply in thread").click()
        await expect(bob.locator("#panel")).to_be_visible(timeout=WAIT)
        await bob.fill("#panel-compose", "a reply in the thread")
        await bob.press("#panel-compose", "Enter")
        await expect(bob.locator("#panel-list")).to_contain_text("a reply in the thread", timeout=WAIT)
        root = alice.locator("#messages .message", has_text="hi bob")
        await expect(root.get_by_role("button", name="1 reply")).to_be_visible(timeout=WAIT)
        await expect(alice.locator("#messages .body", has_text="a reply in the thread")).to_have_count(0)
        await root.get_by_role("button", name="1 reply").click()
        await expect(alice.locator("#panel-list .message")).to_have_count(2, timeout=WAIT)
        if SHOTS:
            await alice.screenshot(path=f"{SHOTS}/web-thread.png")

        # Search: the match highlighted; a click opens the message in its room.
        await alice.fill("#search", "edited")
        await alice.press("#search", "Enter")
        result = alice.locator("#panel-list .result").first
        await expect(result.locator("mark")).to_have_text("edited", timeout=WAIT)
        await result.get_by_role("button").click()
        await expect(alice.locator("#messages .message.flash")).to_contain_text("hello alice, edited", timeout=WAIT)
        await accessible(alice, "a conversation with a thread and search results open")
        if SHOTS:
            await alice.screenshot(path=f"{SHOTS}/web-conversation.png")

        # Alice's connection is cut: she sees it, and what she sends waits in her outbox.
        proxy.cut()
        await expect(alice.locator("#status")).to_have_text("Reconnecting…", timeout=WAIT)
        await send(alice, "sent while offline")
        await expect(alice.locator("#outbox")).to_contain_text("1 message waiting", timeout=WAIT)
        for i in range(1, 21):
            await send(bob, f"missed {i:02}")
        await expect(bob.locator("#messages .message:not(.pending)", has_text="missed 20")).to_be_visible(timeout=WAIT)

        # Back: every missed message once, in order, and hers delivered once.
        proxy.restore()
        await expect(alice.locator("#status")).to_be_hidden(timeout=40_000)
        missed = alice.locator("#messages .message:not(.pending) .body", has_text="missed ")
        for _ in range(WAIT // 100):
            if await missed.count() >= 20:
                break
            await asyncio.sleep(0.1)
        texts = [t.strip() for t in await missed.all_inner_texts()]
        seqs = await alice.eval_on_selector_all("#messages .message", "els => els.map(e => e.dataset.seq + ':' + e.querySelector('.body')?.textContent)")
        assert texts == [f"missed {i:02}" for i in range(1, 21)], (texts, seqs)
        await expect(alice.locator("#outbox")).to_have_text("", timeout=WAIT)
        await expect(bob.locator("#messages .body", has_text="sent while offline")).to_have_count(1, timeout=WAIT)
        await expect(alice.locator("#messages .body", has_text="sent while offline")).to_have_count(1, timeout=WAIT)
        all_texts = [t.strip() for t in await bodies(alice).all_inner_texts()]
        assert len(all_texts) == len(set(all_texts)), f"doubled: {all_texts}"
        if SHOTS:
            await bob.screenshot(path=f"{SHOTS}/web-after-reconnect.png")
        await requests(bob)
        await browser.close()
    assert not errors, errors
    print("browser: two people chatted; 20 missed messages shown once, in order, after a cut")


asyncio.run(main())
