"""Two people chat with `natter chat`, each in a pseudo-terminal (pexpect).

Run by the end-to-end suite (tests/e2e/terminal.rs) against a natter it started:
    python3 tests/terminal/chat.py PATH/TO/natter http://127.0.0.1:PORT

Alice and Bob register at the password prompt, Alice opens a direct conversation with Bob by
name and writes, Bob is told and opens it (history), they answer, react, edit, reply in a
thread, search and upload, each seeing the other's doings live; then Alice's connection (through
a TCP proxy the script runs) is cut: she is told, Bob's messages meanwhile reach her once, in
order, when it is back, and what she typed meanwhile is sent then; then both quit.
"""

import io
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
bob.expect("you were added to a conversation")

say(bob, "/dm alice")
bob.expect("-- @alice --")
bob.expect(r"\[1\] \d\d:\d\d alice: hello \*\*bob\*\*")
say(bob, "hi alice")
alice.expect(r"\[2\] \d\d:\d\d bob: hi alice")

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

for chat in (alice, bob):
    say(chat, "/quit")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0, chat.exitstatus
print("terminal: two people chatted with natter chat in pseudo-terminals")
