"""Paths a stage will write (checkpoints, a table, a report, a record file), checked before any
work, so that a path that cannot be written is one line at once, not a failure after training."""

from __future__ import annotations

import os
from pathlib import Path

from hpo.errors import UserError


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be a folder this process writes into (made where missing); None if it can."""
    for ancestor in (path, *path.parents):
        if ancestor.exists() or ancestor.is_symlink():
            if not ancestor.is_dir():
                return f"{ancestor} is not a folder"
            if not os.access(ancestor, os.W_OK | os.X_OK):
                return f"{ancestor} is not writable"
            return None
    return None


def file_problem(path: Path) -> str | None:
    """Why a file cannot be written at `path`; None if it can."""
    if path.is_dir():
        return f"{path} is a folder"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return folder_problem(path.parent if str(path.parent) else Path("."))


def check_folder(path: str | Path, what: str, fix: str) -> None:
    problem = folder_problem(Path(path))
    if problem:
        raise UserError(f"cannot write {what} to {path}: {problem}: {fix}")


def check_file(path: str | Path, what: str, fix: str) -> None:
    problem = file_problem(Path(path))
    if problem:
        raise UserError(f"cannot write {what} to {path}: {problem}: {fix}")


def check_checkpoints() -> None:
    """The folder where a study keeps the checkpoints of trials it may resume (ASHA's promotions)."""
    from hpo.studies.searching import CHECKPOINT_DIR  # not at the top: a reader (report) needs no executor

    root = os.environ.get("HPO_CHECKPOINT_DIR") or CHECKPOINT_DIR
    check_folder(root, "checkpoints", f"set HPO_CHECKPOINT_DIR to a folder you can write (unset, it is "
                                      f"{CHECKPOINT_DIR})")
