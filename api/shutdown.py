"""The server's graceful shutdown (SIGTERM, SIGINT), heard inside the app.

uvicorn closes open websockets with 1012 when it shuts down, but lets HTTP responses run to their
end before the lifespan's shutdown: a response that never ends by itself (an event stream) would
hold the process ("Waiting for connections to close") until its client leaves. ASGI has no message
for it, so the app chains a handler after the server's own.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Handler = Callable[[int, FrameType | None], object]


@contextmanager
def on_server_exit(callback: Callable[[], None]) -> Iterator[None]:
    """While inside, `callback` runs on this event loop when a signal asks the server to stop.

    The server's handler still runs and decides what the signal means. Nothing is chained outside
    the main thread, or for a signal with no Python handler (nobody shuts down gracefully then).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    chained: dict[int, tuple[Handler, Handler]] = {}
    for sig in SHUTDOWN_SIGNALS:
        previous = signal.getsignal(sig)
        if callable(previous):
            chained[sig] = (_chain(loop, callback, previous), previous)
            signal.signal(sig, chained[sig][0])
    try:
        yield
    finally:
        for sig, (handler, previous) in chained.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)


def _chain(loop: asyncio.AbstractEventLoop, callback: Callable[[], None], previous: Handler) -> Handler:
    """A signal handler that schedules `callback` on `loop`, then calls `previous`."""

    def handler(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        previous(sig, frame)

    return handler
