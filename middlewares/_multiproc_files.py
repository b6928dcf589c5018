"""prometheus_client's multiprocess directory under gunicorn: started empty, kept bounded.

Every worker writes its values to files named by its pid (``histogram_<pid>.db``,
``counter_<pid>.db``, ``gauge_livesum_<pid>.db``). A worker that exits (``max_requests``,
the watchdog, a crash) leaves them behind: its live gauges must go (``mark_process_dead``),
but its counters and histograms must stay summed, or totals would go backwards. Left as they
are, they pile up, one set per restart, and every scrape reads them all.

So :func:`child_exit` folds a dead worker's counter, histogram and summary files into one
archive file per type (``counter_archive.db``...), with prometheus_client's own
``MultiProcessCollector.merge(accumulate=False)`` (meant for writing merged values back) and
``MmapedDict``: the directory holds the live workers' files and at most three archives.

A scrape must not read the directory halfway through a fold (the archive written, the dead
file not yet removed, would count it twice), so folds and ``metrics_handler()``'s reads take
an ``flock`` on ``.berth-metrics.lock`` in the directory: exclusive to fold, shared to read.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import Final

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["ARCHIVE", "FOLDED_TYPES", "child_exit", "directory_lock", "fold", "on_starting"]

#: The environment variable that turns prometheus_client's multiprocess mode on.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Where a type's folded values live: ``<type>_archive.db`` (read like any worker's file).
ARCHIVE: Final = "archive"
#: The file types whose values outlive their worker (gauges are live* or per-process).
FOLDED_TYPES: Final = ("counter", "histogram", "summary")
_LOCK_FILE: Final = ".berth-metrics.lock"


@contextlib.contextmanager
def directory_lock(path: str, *, exclusive: bool) -> Iterator[None]:
    """Hold the directory's lock: shared to read the files, exclusive to fold them."""
    fd = os.open(os.path.join(path, _LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def fold(path: str, pid: int) -> None:
    """Add the dead worker ``pid``'s counters, histograms and summaries to the archives
    and remove its files."""
    with directory_lock(path, exclusive=True):
        for kind in FOLDED_TYPES:
            dead = os.path.join(path, f"{kind}_{pid}.db")
            if not os.path.exists(dead):
                continue
            archive = os.path.join(path, f"{kind}_{ARCHIVE}.db")
            files = [dead, archive] if os.path.exists(archive) else [dead]
            merged = MultiProcessCollector.merge(files, accumulate=False)  # type: ignore[no-untyped-call]
            fresh = archive + ".tmp"  # not *.db: no reader sees it until it is complete
            with contextlib.suppress(FileNotFoundError):
                os.remove(fresh)
            values = MmapedDict(fresh)  # type: ignore[no-untyped-call]
            try:
                for metric in merged:
                    for sample in metric.samples:
                        key = mmap_key(
                            metric.name,
                            sample.name,
                            list(sample.labels),
                            list(sample.labels.values()),
                            metric.documentation,
                        )
                        values.write_value(key, sample.value, 0.0)  # type: ignore[no-untyped-call]
            finally:
                values.close()  # type: ignore[no-untyped-call]
            os.replace(fresh, archive)
            os.remove(dead)


def on_starting(server: object) -> None:
    """gunicorn's ``on_starting`` hook: begin with an empty multiprocess directory (the
    files of a previous run would be summed with this one's)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for entry in os.scandir(path):
            if entry.name.endswith((".db", ".db.tmp")):
                os.remove(entry.path)


def child_exit(server: object, worker: object) -> None:
    """gunicorn's ``child_exit`` hook: drop a dead worker's live gauges and fold its
    counters and histograms into the archives (their values stay summed)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        pid: int = worker.pid  # type: ignore[attr-defined]
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        fold(path, pid)
