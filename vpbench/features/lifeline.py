"""Decoding workers end when the vpbench process that asked for them ends, however it ends.

Workers are forked by multiprocessing's fork server, so their parent is the fork server, not
vpbench; torch's DataLoader workers watch that parent, and the fork server waits for its workers
(every worker holds the fork server's "alive" pipe). After a SIGKILL of vpbench the workers, the
fork server and the resource tracker would wait for each other forever. So each worker watches
the vpbench process itself: a daemon thread blocks on a pidfd of that process (Linux >= 5.3;
elsewhere it polls every half second) and ends the worker as soon as it exits. The fork server
and the resource tracker then see their last client gone and exit on their own.

This module must never be used in the vpbench process itself: it ends the process it runs in.
"""

from __future__ import annotations

import os
import select
import threading
import time

POLL_S = 0.5
"""Polling interval where no pidfd exists (non-Linux, old kernels)."""


def exit_with(pid: int, _worker_id: int | None = None) -> None:
    """End this process (``os._exit``) as soon as process ``pid`` ends; returns at once.

    The signature fits ``DataLoader(worker_init_fn=functools.partial(exit_with, os.getpid()))``.
    """
    if pid == os.getpid():
        raise ValueError("exit_with: a process cannot outlive itself; give the pid of the process to follow")
    handle = _pidfd(pid)
    if handle is None and not _alive(pid):
        os._exit(1)
    threading.Thread(target=_wait_then_exit, args=(pid, handle), name="vpbench-lifeline", daemon=True).start()


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_then_exit(pid: int, handle: int | None) -> None:
    if handle is not None:
        select.select([handle], [], [])  # a pidfd becomes readable when its process exits
    else:
        while _alive(pid):
            time.sleep(POLL_S)
    os._exit(1)
