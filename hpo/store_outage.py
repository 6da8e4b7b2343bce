"""A tracking server that stops answering mid-study: waited for, for a bounded time, out loud.

MLflow retries each REST call itself (urllib3's `Retry`, configured by MLFLOW_HTTP_REQUEST_*
variables): by default seven retries, about four silent minutes, then a traceback. `install()`
sizes those retries so that their pauses add up to HPO_TRACKING_WAIT seconds, and says on stderr
when a server stops answering and when it answers again. Training waits with the call, so no
metric is lost. A call that still fails after the wait is an outage (`is_outage`); the stage
turns it into `TrackingOutage`, one line: the study stops, its open runs stay as they are (the
server cannot be told), and the same command run again ends them and continues the study.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from urllib3.util.retry import Retry

from hpo import settings
from hpo.errors import UserError

WAIT_VARIABLE = "HPO_TRACKING_WAIT"
DEFAULT_WAIT_S = 600
MAX_WAIT_S = 24 * 3600
BACKOFF_FACTOR = 1  # urllib3 pauses 0, 2, 4, 8, ... seconds between attempts (times this factor)
BACKOFF_CAP_S = Retry.DEFAULT_BACKOFF_MAX  # and never longer than this (120 s)
# MLflow refuses more retries than this internal limit unless it is raised too
RETRY_LIMIT_VARIABLE = "_MLFLOW_HTTP_REQUEST_MAX_RETRIES_LIMIT"


class TrackingOutage(UserError):
    """The tracking server did not answer within the wait: the study stops, the rerun continues it."""


def wait_seconds() -> int:
    """HPO_TRACKING_WAIT: how long a study waits for a tracking server that stops answering."""
    return settings.seconds(WAIT_VARIABLE, DEFAULT_WAIT_S, MAX_WAIT_S)


def pause(retry: int) -> float:
    """The pause urllib3 makes before retry number `retry` (1, 2, ...; without MLflow's jitter)."""
    return 0.0 if retry == 1 else min(BACKOFF_CAP_S, BACKOFF_FACTOR * 2.0 ** min(retry - 1, 32))


def retries_for(wait: int) -> int:
    """The fewest retries whose pauses add up to at least `wait` seconds."""
    retries, paused = 0, 0.0
    while paused < wait:
        retries += 1
        paused += pause(retries)
    return retries


_state = {"uri": None, "wait": DEFAULT_WAIT_S, "since": None}


class _RetryWatch(logging.Handler):
    """Hears urllib3's warning before each retry; the first of an outage is said on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith("Retrying") or _state["since"] is not None:
            return
        _state["since"] = time.monotonic()
        reason = ("connection refused" if "refused" in message.lower() else
                  "timed out" if "timed out" in message.lower() or "timeout" in message.lower() else
                  "connection broken")
        _say(f"the tracking server {_state['uri']} does not answer ({reason}): waiting up to {_state['wait']} s "
             f"for it ({WAIT_VARIABLE}); training is paused meanwhile, nothing is lost")


_WATCH = _RetryWatch(level=logging.WARNING)


def install(uri: str) -> None:
    """Size MLflow's retries from HPO_TRACKING_WAIT (for this process and the ones it starts) and
    listen for them. Overrides MLFLOW_HTTP_REQUEST_MAX_RETRIES and _BACKOFF_FACTOR: the wait is
    the one setting; each attempt still times out after MLFLOW_HTTP_REQUEST_TIMEOUT."""
    wait = wait_seconds()
    retries = retries_for(wait)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = str(BACKOFF_FACTOR)
    if retries > int(os.environ.get(RETRY_LIMIT_VARIABLE, "10")):
        os.environ[RETRY_LIMIT_VARIABLE] = str(retries)
    _state.update(uri=uri, wait=wait)
    logger = logging.getLogger("urllib3.connectionpool")
    if _WATCH not in logger.handlers:
        logger.addHandler(_WATCH)
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)


def answered() -> None:
    """A call to the server succeeded: where it had stopped answering, say that it is back."""
    since = _state["since"]
    if since is not None:
        _state["since"] = None
        _say(f"the tracking server {_state['uri']} answers again after {time.monotonic() - since:.0f} s: "
             "the study goes on")


def is_outage(error: BaseException) -> bool:
    """Whether `error` (or an exception it was raised from or during) is a server that did not
    answer: a refused or broken connection, or a timeout, after MLflow's retries."""
    import requests

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
        error = error.__cause__ or error.__context__
    return False


def outage_error() -> TrackingOutage:
    _state["since"] = None
    return TrackingOutage(f"the tracking server {_state['uri']} did not answer for {_state['wait']} s "
                          f"({WAIT_VARIABLE}): the study stopped, keeping what it recorded; once the server "
                          "answers, run the same command again: it continues the study")


def _say(text: str) -> None:
    print(f"hpo {time.strftime('%H:%M:%S')}: {text}", file=sys.stderr, flush=True)
