import time

from hpo import timing


def test_phases_count_each_second_once_in_the_innermost_phase():
    with timing.recording() as record:
        with timing.phase("outer"):
            time.sleep(0.02)
            with timing.phase("inner"):
                time.sleep(0.05)
            started = time.perf_counter()
            time.sleep(0.05)
            measured = time.perf_counter() - started
            timing.add("measured", measured)  # seconds measured by hand (between callbacks), inside "outer"
        with timing.phase("inner"):
            pass
    assert 0.05 <= record.seconds["inner"] < 0.2
    assert 0.02 <= record.seconds["outer"] < 0.1  # neither the inner phase's seconds nor the added ones
    assert record.seconds["measured"] == measured
    assert record.calls == {"outer": 1, "inner": 2, "measured": 1}


def test_nothing_is_recorded_outside_a_recording():
    with timing.phase("unseen"):
        timing.add("unseen too", 1.0)
    with timing.recording() as record:
        pass
    assert not record.seconds and not record.calls
