"""Stopping cleanly on SIGINT or SIGTERM: the work in hand finishes, a second signal stops at once.

Under a job manager that handles SIGUSR2 itself (submitit, warned by Slurm before a job's time limit or its
preemption), SIGUSR2 stops the same way, and the manager's own handler (which requeues the job) runs once the
work in hand is saved.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

# The exit status a shell gives a process stopped by each signal; the CLI exits with it.
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143, "SIGUSR2": 140}


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

    caught = [signal.SIGINT, signal.SIGTERM]
    manager = getattr(signal, "SIGUSR2", None)
    if manager is not None and callable(signal.getsignal(manager)):
        caught.append(manager)
    previous = {sig: signal.signal(sig, handler) for sig in caught}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if manager in previous and request.name == "SIGUSR2":
            previous[manager](manager, None)  # the job manager's handler: it requeues the job
