"""Errors the user can fix: the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input (parameter, profile, dataset, weights): the message says what to do."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a job scheduler, CI cancelling): handled as an interrupt, so every run
    that is open ends KILLED instead of staying RUNNING."""


class TrainingDiverged(Exception):
    """A trial's loss became NaN or infinite; the trial is recorded as FAILED."""


def one_line(text: str, limit: int = 500) -> str:
    """`text` on one line (whitespace runs collapsed) and at most `limit` characters: for error
    messages and tags."""
    return " ".join(str(text).split())[:limit]
