"""One run per folder: an exclusive lock on ``<run folder>/run.lock`` for the whole life of a run.

Two runs of one name at once would train into one folder — interleaved ``metrics.jsonl`` lines, one ``.tmp`` name
for two checkpoint writers, a results file written twice. :func:`hold_run_folder` takes ``fcntl.flock(LOCK_EX)`` on
the lock file before the run reads or deletes anything there, and writes who holds it (process id, host, start
time) into the file. A second run is refused with :class:`RunLockedError` naming the folder and that holder.

The kernel releases a ``flock`` when its process ends, however it ends, so a run killed by SIGKILL leaves the file
but not the lock: the next ``--resume`` takes it at once. The file itself is never deleted (deleting it while
another process waits on it would let two runs hold two different files). On a network file system without
``flock`` support the lock may not hold across hosts.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import time
from pathlib import Path
from typing import Iterator

LOCK_NAME = "run.lock"


class RunLockedError(RuntimeError):
    """Another live process holds the run folder's lock; the message names the folder and the holder."""


@contextlib.contextmanager
def hold_run_folder(run_dir: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of ``run_dir`` (created if missing) while the ``with`` block runs."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    handle = open(path, "a+")              # a+: never truncates what the holder wrote before we hold the lock
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunLockedError(f"{run_dir} is in use by a run that is still going ({holder}); wait for it to end, "
                                 "stop it, or pick another name= / output_dir=") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {platform.node()}, since "
                     f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        handle.flush()
        yield path
    finally:
        handle.close()                     # closing the last descriptor releases the lock
