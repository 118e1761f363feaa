# SPDX-License-Identifier: Apache-2.0
"""The start of a worker process: what ``monitor.make_executor`` hands its process pool.

Owns :func:`exit_with_parent` (the pool's initializer) and :func:`warm_up` (the first task of each worker).
A spawned worker imports the module of every function it is given, so this one stays small: importing it
must not load the archive, the HTTP client or the command line, which a worker never uses.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent_pid: int, poll: float = 1.0) -> None:
    """End this worker when its parent is gone (even after a SIGKILL, which leaves pool workers waiting forever
    on a queue they hold both ends of)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def warm_up() -> None:
    """Load the extractor and the analysis (about a third of a second), so that the first fetched page does
    not wait for it."""
    from . import derive  # noqa: F401
