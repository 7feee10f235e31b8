"""A real SpeechServer on a free loopback port, on its own event-loop thread (test helper)."""

from __future__ import annotations

import asyncio
import queue
import threading

from serve.server import ServerConfig, SpeechServer


class RunningServer:
    """A SpeechServer on its own event loop thread; ``stop()`` drains it."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = SpeechServer(cfg)
        ready: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        self.port = ready.get(timeout=60)
        self.target = f"127.0.0.1:{self.port}"

    def _run(self, ready: queue.Queue) -> None:
        asyncio.set_event_loop(self.loop)
        ready.put(self.loop.run_until_complete(self.server.start()))
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(grace=1.0), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
