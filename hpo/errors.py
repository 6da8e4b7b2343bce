"""Errors the user can fix: the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input (parameter, profile, dataset, weights): the message says what to do."""


class TrainingDiverged(Exception):
    """A trial's loss became NaN or infinite; the trial is recorded as FAILED."""
