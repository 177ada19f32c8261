"""Open files: a capture with N streams in flight holds N sockets, so the process's limit must allow them.

Linux gives most processes a soft limit of 1,024 open files (the hard limit is
usually far higher), so ``--max-concurrency 1024`` would fail half its
queries with "Too many open files" and then fail to write the manifest. Before
a run starts, the soft limit is raised as far as the streams need; when even
the hard limit is too low, the run is refused in one line, before anything is
recorded.
"""

from __future__ import annotations

from ..errors import UsageError

SPARE_FILES = 64  # besides the sockets: the ledger segment, its lock, the monitor's channel, the dataset, logs

__all__ = ["SPARE_FILES", "ensure_open_files"]


def ensure_open_files(streams: int) -> int | None:
    """Make room for ``streams`` sockets plus :data:`SPARE_FILES`; returns the soft limit now (None: no limit known)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX: the platform has no such limit to raise
        return None
    needed = streams + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    if soft == unlimited or soft >= needed:
        return None if soft == unlimited else soft
    if hard != unlimited and hard < needed:
        raise UsageError(
            f"--max-concurrency {streams} needs about {needed} open files, but this process may open at most {hard}",
            hint=f"raise the limit (ulimit -n {needed}, or the service's LimitNOFILE) or lower --max-concurrency",
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as exc:
        raise UsageError(
            f"--max-concurrency {streams} needs about {needed} open files, and raising the limit from {soft} failed: {exc}",
            hint=f"raise it before starting ipw (ulimit -n {needed}) or lower --max-concurrency",
        ) from exc
    return needed
