"""What a command may use to spread work over processes: the CPUs it may run on, and whether
worker processes can be forked (no re-import of the caller's main module, no start-up)."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def fork_available() -> bool:
    """Whether this platform can fork worker processes."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()
