"""Stopping cleanly on SIGINT or SIGTERM: the work in hand finishes, a second signal stops at once."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

# The exit status a shell gives a process stopped by each signal; the CLI exits with it.
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


class StopRequest:
    """Set by the first SIGINT or SIGTERM; ``name`` is the signal's name, None until then."""

    def __init__(self) -> None:
        self.name: str | None = None


@contextlib.contextmanager
def stop_requests(what: str) -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM set the yielded request instead of stopping the process.

    ``what`` says on stderr what will finish first ("this step"). A second
    signal raises KeyboardInterrupt at once. Outside the main thread (where
    Python cannot take signals) the request simply stays unset.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):
        if request.name is not None:
            raise KeyboardInterrupt
        request.name = signal.Signals(signum).name
        # os.write, not logging: the signal may have interrupted a write to the same stream.
        os.write(2, f"\n{request.name}: stopping after {what} (send it again to stop at once)\n".encode())

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
