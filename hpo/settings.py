"""Settings a user gives through the environment, read strictly: a malformed one is one line."""

from __future__ import annotations

import os

from hpo.errors import UserError


def seconds(variable: str, default: int, maximum: int) -> int:
    """Whole seconds from 0 to `maximum` in environment variable `variable`; `default` if unset."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) > maximum:
        raise UserError(f"{variable}={text!r} is not a number of seconds from 0 to {maximum}: unset it for {default}")
    return int(text)
