"""The rule for failed trials (hpo/studies/failures.py), on synthetic outcomes: no training."""

import math

import pytest

from hpo.errors import UserError
from hpo.jobs import Job, Outcome
from hpo.studies.failures import Failures


def _ok(score=0.5):
    return Outcome(score, 0.4, 1)


def _failed(error="RuntimeError: out of memory"):
    return Outcome(math.nan, math.nan, 0, error=error)


def _jobs(*outcomes, trial_of=lambda i: i):
    return [(Job(trial_of(i), {}, 0, 1), o) for i, o in enumerate(outcomes)]


def test_no_failure_says_nothing():
    failures = Failures()
    failures.add("grid on digits", _jobs(_ok(), _ok()))
    assert not failures.fatal() and failures.summary() is None


def test_some_failed_trials_are_counted_with_the_first_cause():
    failures = Failures()
    failures.add("grid on digits", _jobs(_ok(), _failed("ValueError: first"), _failed("ValueError: second")))
    failures.add("asha on digits", _jobs(_ok(), _failed("OSError: later")))
    assert not failures.fatal()
    assert failures.summary() == "3 of 5 trials failed (first: ValueError: first)"


def test_a_trial_fails_if_one_of_its_jobs_did_and_counts_once():
    failures = Failures()  # ASHA: trial 0 ran rung 0 then failed when promoted; trial 1 is fine
    failures.add("asha on digits", _jobs(_ok(), _ok(), _failed(), trial_of=lambda i: [0, 1, 0][i]))
    assert not failures.fatal() and failures.summary().startswith("1 of 2 trials failed")


def test_a_search_whose_every_trial_failed_is_fatal_with_one_line():
    failures = Failures()
    failures.add("grid on fashion", _jobs(_ok()))
    failures.add("grid on digits", _jobs(_failed("UserError: no prepared data\nin two lines"), _failed()))
    failures.add("asha on digits", _jobs(_failed()))
    assert failures.fatal()
    with pytest.raises(UserError) as e:
        raise failures.error()
    assert str(e.value) == ("every trial of grid on digits failed (2 of 2; the first: UserError: no prepared data in "
                            "two lines; 1 other search(es) too): fix that, then rerun with --restart")


def test_a_nan_score_without_an_error_is_a_failure_and_a_final_training_counts():
    failures = Failures()
    failures.add("variant balanced of fashion", _jobs(Outcome(math.nan, math.nan, 1)), [_failed("KeyError: x")])
    assert failures.fatal() and "(2 of 2; the first: KeyError: x)" in str(failures.error())
    partial = Failures()
    partial.add("variant balanced of fashion", _jobs(_ok()), [_failed("KeyError: x")])
    assert not partial.fatal() and partial.summary() == "1 of 2 trials failed (first: KeyError: x)"


def test_a_search_without_trials_is_not_fatal():
    failures = Failures()
    failures.add("grid on digits", [])
    assert not failures.fatal() and failures.summary() is None
