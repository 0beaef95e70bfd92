"""Bob reads, in `natter chat`, a message full of escape sequences (tests/e2e/terminal.rs put it
in the log), and what his terminal shows is read through a terminal emulator (pyte): the
window's title was never set, no character has a colour, and the body's second line is an
indented continuation, not a line that starts as another person's does.

    python3 tests/terminal/escapes.py PATH/TO/natter http://127.0.0.1:PORT
"""

import io
import sys

import pexpect
import pyte

NATTER, BASE = sys.argv[1], sys.argv[2]
COLUMNS, ROWS = 160, 40

shown = io.StringIO()
chat = pexpect.spawn(
    NATTER,
    ["chat", "--url", BASE, "--user", "bob"],
    encoding="utf-8",
    timeout=15,
    dimensions=(ROWS, COLUMNS),
    env={"TERM": "xterm", "NATTER_LOG": "error"},
)
chat.logfile_read = shown
chat.expect("Password: ")
chat.sendline("password123")
chat.expect("> ")
for ch in "/dm alice\r":
    chat.send(ch)
chat.expect("the end")
chat.expect("> ")
chat.sendline("/quit")
chat.expect(pexpect.EOF)

screen = pyte.Screen(COLUMNS, ROWS)
stream = pyte.Stream(screen)
stream.feed(shown.getvalue())
lines = [line.rstrip() for line in screen.display]
text = "\n".join(lines)

assert screen.title == "", f"the title was set: {screen.title!r}"
assert screen.icon_name == "", f"the icon name was set: {screen.icon_name!r}"
coloured = [
    (y, x, ch.data, ch.fg, ch.bg)
    for y, row in screen.buffer.items()
    for x, ch in row.items()
    if ch.fg != "default" or ch.bg != "default" or ch.reverse or ch.bold
]
assert not coloured, f"coloured characters: {coloured[:10]}\n{text}"
assert "^[]0;pwned^G" in text, f"the escape sequence is not shown as text:\n{text}"
assert "<U+009B>32mgreen" in text, text
fake = [line for line in lines if "carol never wrote" in line]
assert fake, f"the body's second line is missing:\n{text}"
for line in fake:
    assert line.startswith("    [9]"), f"not an indented continuation: {line!r}\n{text}"
assert not any(line.startswith("[9]") for line in lines), text
print("ok: escapes shown, not obeyed")
