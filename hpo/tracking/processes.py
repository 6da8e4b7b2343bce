"""Whether the process that owns a run still runs: the `process` tag (host:pid:start time) a
run carries, and reading it back on the same host."""

from __future__ import annotations

import os
import socket
from pathlib import Path

# The process that has a run open, as host:pid:start time (the start time tells a pid the system
# gave to a new process from the one that opened the run).
PROCESS_TAG = "process"
WORKER_TAG = "worker"  # on a trial run: the process that trains its job (a Dask worker, or the stage itself)
ABANDONED = "interrupted: the process running it ended without closing it"


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` (Linux: clock ticks since boot), '' where unknowable, None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None
    except (OSError, IndexError):
        return ""


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid()) or ''}"


def process_alive(tag: str) -> bool | None:
    """Whether the process a `process` tag names still runs: known on its own host; None elsewhere
    (or for a run without the tag)."""
    host, pid, started = (tag.split(":") + ["", "", ""])[:3] if tag.count(":") >= 2 else ("", "", "")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    now = _start_time(int(pid))
    if now is None:
        return False
    return not (now and started and now != started)
