"""An app served by waitress on a daemon thread, for tests that need a real socket (tus
clients, the browser). All socket work, including the shutdown, stays on that thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel


@contextmanager
def serving(app: Any, **options: Any) -> Iterator[int]:
    """Serve `app` on 127.0.0.1 (a free port, yielded) until the block ends."""
    server = create_server(app, host="127.0.0.1", port=0, **options)
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                wasyncore.loop(timeout=0.05, map=server._map, count=1)
        finally:
            server.close()
            server.task_dispatcher.shutdown()
            for channel in list(server._map.values()):
                if isinstance(channel, HTTPChannel):
                    # handle_close also closes the channel's buffers (temporary files);
                    # close_all alone would leave them to the garbage collector
                    for request in [channel.request, *channel.requests]:
                        if request is not None:
                            request.close()
                    channel.handle_close()
            wasyncore.close_all(server._map)

    thread = threading.Thread(target=serve, name="waitress", daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        stop.set()
        thread.join(timeout=10)
        if thread.is_alive():
            raise RuntimeError("the waitress thread did not stop")
