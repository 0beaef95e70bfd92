"""Two people chat with `natter chat`, each in a pseudo-terminal (pexpect).

Run by the end-to-end suite (tests/e2e/terminal.rs) against a natter it started:
    python3 tests/terminal/chat.py PATH/TO/natter http://127.0.0.1:PORT

Alice and Bob register at the password prompt, Alice opens a direct conversation with Bob by
name and writes, Bob is told and opens it (history), they answer, react, edit, reply in a
thread, search and upload, each seeing the other's doings live; then Alice's connection (through
a TCP proxy the script runs) is cut: she is told, Bob's messages meanwhile reach her once, in
order, when it is back, and what she typed meanwhile is sent then; then Bob's session is ended
elsewhere (a password change) and his terminal says so and stops, and Alice quits.
"""

import io
import json
import urllib.request
import os
import sys
import tempfile
import time
from urllib.parse import urlparse

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from cutproxy import Proxy  # noqa: E402

NATTER, BASE = sys.argv[1], sys.argv[2]
WAIT = 15


def start(name, base=BASE):
    chat = pexpect.spawn(
        NATTER,
        ["chat", "--url", base, "--user", name, "--register"],
        encoding="utf-8",
        timeout=WAIT,
        dimensions=(40, 160),
        env={"TERM": "xterm", "NATTER_LOG": "error"},
    )
    chat.expect("Password: ")
    chat.sendline("password123")  # read cooked, by rpassword
    chat.expect("/quit")  # the help
    chat.expect("no conversations yet")
    chat.expect("> ")
    chat.delaybeforesend = None
    return chat


def say(chat, line):
    # Typed as a person types (the line editor reads the terminal raw: Enter is a carriage
    # return).
    for ch in line + "\r":
        chat.send(ch)
        time.sleep(0.01)


url = urlparse(BASE)
proxy = Proxy((url.hostname, url.port))
alice = start("alice", f"http://127.0.0.1:{proxy.port}")

bob = start("bob")

say(alice, "/dm bob")
alice.expect("-- @bob --")
say(alice, "hello **bob**")
alice.expect(r"\[1\] \d\d:\d\d you: hello \*\*bob\*\*")
bob.expect("you were added to a conversation by alice")

say(bob, "/dm alice")
bob.expect("-- @alice --")
bob.expect(r"\[1\] \d\d:\d\d alice: hello \*\*bob\*\*")
say(bob, "hi alice")
alice.expect(r"\[2\] \d\d:\d\d bob: hi alice")
# A paste (or an input method's text) reaches the line editor in one write: all of it is
# read, not just its first character (rustyline before 19 stalled there).
alice.send("pasted, all of it at once\r")
bob.expect(r"\[3\] \d\d:\d\d alice: pasted, all of it at once")

say(alice, "/react 2 👍")
bob.expect("alice reacted 👍 to 2")
say(bob, "/edit 2 hi alice, edited")
alice.expect("bob edited 2: hi alice, edited")

say(alice, "/thread 1")
alice.expect("thread of 1")
say(alice, "a reply in the thread")
bob.expect("alice replied in the thread of 1")
say(alice, "/thread")
alice.expect("back in the room")

say(bob, "/search edited")
bob.expect(r"bob: .*\*edited\*")

say(bob, "/frobnicate")
bob.expect("no command /frobnicate")

# Typing: what Bob types, before he sends it, is shown to Alice.
for ch in "still typing":
    bob.send(ch)
    time.sleep(0.01)
alice.expect("… bob is typing")
say(bob, "")
alice.expect("bob: still typing")

# Looking around: the edit history, how far a message got, members, status, pins.
say(alice, "/edits 2")
alice.expect(r"original \d\d:\d\d: hi alice\r")
alice.expect(r"edit 1 \d\d:\d\d: hi alice, edited")
say(alice, "/seen 1")
alice.expect("1: delivered to 1, read by 1")
say(bob, "/members")
bob.expect("2 members, 2 online")
bob.expect(r"alice \(@alice, ")
say(bob, "/status busy at lunch")
bob.expect("you show as busy: at lunch")
alice.expect("… bob is busy: at lunch")
# Pins, in a room Alice creates (she owns it) and Bob joins; then both go back.
say(alice, "/join plans")
alice.expect("no room plans: created it")
alice.expect("-- #plans --")
say(alice, "/pins")
alice.expect("nothing is pinned here")
say(alice, "meet at noon")
alice.expect(r"\[1\] \d\d:\d\d you: meet at noon")
say(alice, "/pin 1")
alice.expect("1 pinned")
say(bob, "/join plans")
bob.expect(r"\[1\] \d\d:\d\d alice: meet at noon")
say(bob, "/pins")
bob.expect(r"📌 \d\d:\d\d alice: meet at noon  \(pinned by alice\)")
say(bob, "/pin 1")
bob.expect("! .*admin")
say(alice, "/dm bob")
alice.expect("-- @bob --")
say(bob, "/dm alice")
bob.expect("-- @alice --")

# A file, named in the message.
with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
    f.write(b"some notes")
say(bob, f"/upload {f.name}")
alice.expect(r"bob: " + os.path.basename(f.name) + r" \[file: ")

# Alice's connection is cut: she is told; what Bob sends meanwhile comes once, in order,
# when it is back, and what she typed meanwhile is sent then.
proxy.cut()
alice.expect("connection lost; reconnecting")
for i in range(1, 6):
    say(bob, f"missed {i}")
    bob.expect(f"you: missed {i}")
say(alice, "typed while offline")
alice.expect("sent when back")
proxy.restore()
seen = io.StringIO()
alice.logfile_read = seen
alice.expect("-- connected --", timeout=40)
for i in range(1, 6):
    alice.expect(f"bob: missed {i}")
bob.expect("alice: typed while offline")
say(bob, "the end")
alice.expect("bob: the end")
shown = seen.getvalue()
for i in range(1, 6):
    assert shown.count(f"bob: missed {i}") == 1, f"missed {i} shown {shown.count(f'bob: missed {i}')} times"

# Bob changes his password elsewhere: every other session of his ends. His terminal is
# told (its refresh token is refused too), says what it could not send, and stops.
def rest(method, path, body, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(BASE + path, json.dumps(body).encode(), headers, method=method)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


# Bob asks for requests: a stranger's conversation waits for him, and opens once accepted.
say(bob, "/requests on")
bob.expect("now wait here")
bob.expect("no requests")
login = rest("POST", "/v1/auth/login", {"username": "bob", "password": "password123"})
carol = rest("POST", "/v1/auth/register", {"username": "carol", "password": "password123"})
dm = rest("POST", "/v1/dms", {"user_ids": [login["user"]["id"]]}, carol["token"])
rest("POST", f"/v1/rooms/{dm['id']}/messages", {"body": "hello from carol", "client_msg_id": "c1"}, carol["token"])
bob.expect("carol asks you into a conversation: /requests")
say(bob, "/requests")
bob.expect(r"1\. @carol")
say(bob, "/accept 1")
bob.expect("accepted @carol")
bob.expect(r"\[1\] \d\d:\d\d carol: hello from carol")

elsewhere = login["token"]
rest("POST", "/v1/me/password", {"old_password": "password123", "new_password": "password456"}, elsewhere)
bob.expect("! signed out: .*run natter chat again")
bob.expect(pexpect.EOF)
bob.close()
assert bob.exitstatus == 0, bob.exitstatus

say(alice, "/quit")
alice.expect(pexpect.EOF)
alice.close()
assert alice.exitstatus == 0, alice.exitstatus
print("terminal: two people chatted with natter chat in pseudo-terminals")
