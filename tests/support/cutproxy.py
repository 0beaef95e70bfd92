"""What the browser and terminal scenarios share: a TCP proxy to natter that a test can cut
(every connection aborted, nothing accepted) and restore on the same port, since a browser's
offline mode does not close open WebSockets. It runs on a thread of its own, so synchronous
(pexpect) and asynchronous (Playwright) scripts alike can use it.
"""

import asyncio
import threading

WAIT = 15


class Proxy:
    """A TCP proxy to natter, on a thread of its own, that can be cut and restored."""

    def __init__(self, target):
        self.target, self.conns, self.server = target, set(), None
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.port = self.run(self.start(0))

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    async def start(self, port):
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", port)
        return self.server.sockets[0].getsockname()[1]

    async def serve(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        pair = (writer, up_writer)
        self.conns.add(pair)

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.conns.discard(pair)

    async def _cut(self):
        self.server.close()
        await self.server.wait_closed()
        for pair in list(self.conns):
            for w in pair:
                w.transport.abort()
        self.conns.clear()

    def cut(self):
        self.run(self._cut())

    def restore(self):
        self.run(self.start(self.port))
