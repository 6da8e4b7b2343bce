"""Headless Chromium for tests that look at a rendered page: a screenshot and, where asked, the
DOM after the page's scripts ran."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
RENDER_TIMEOUT_S = 900


def chromium() -> str:
    """Chromium's path; a missing browser skips the test, but fails it under CI."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (Debian package chromium; scripts/setup.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def render(url: str, shot: Path, size: tuple[int, int] = (1280, 2000), dom: bool = False,
           wait_ms: int = 0) -> str:
    """Load `url` in a fresh browser profile and save a screenshot to `shot`; return the DOM
    (with `dom`), after `wait_ms` of the page's (virtual) time for its scripts and requests."""
    args = [chromium(), *FLAGS, f"--user-data-dir={shot.parent / (shot.stem + '-profile')}", f"--screenshot={shot}",
            f"--window-size={size[0]},{size[1]}"]
    if wait_ms:
        args.append(f"--virtual-time-budget={wait_ms}")
    if dom:
        args.append("--dump-dom")
    # A loaded machine can take minutes to start a browser: only a hang, not slowness, fails the test
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=RENDER_TIMEOUT_S)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    return done.stdout
