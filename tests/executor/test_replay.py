"""The replay driver and the recorded table, on synthetic curves: no Keras, no store."""

import json
import math
import random

import pytest

from hpo import recorded
from hpo.budget import Budget
from hpo.errors import UserError
from hpo.executor.replay import ReplayDriver, replayed
from hpo.jobs import Job
from hpo.profiles import load_profile
from hpo.report.repetitions import best_at_shares
from hpo.search.loop import run_search
from hpo.search.registry import entry, names
from hpo.space import config_space, constants
from hpo.studies.replay import anytime

PROFILE = load_profile("embedded")
FIXED = constants(config_space(PROFILE.space.applied))
SPACE = PROFILE.space.applied.model_dump(mode="json")


def synthetic_table(profile=PROFILE, seed=0, fail=()) -> recorded.Table:
    """The profile's design with made-up curves: rising accuracies, 1 to 3 s per epoch; the
    points in `fail` stop after 3 epochs."""
    rng = random.Random(seed)
    epochs = recorded.epochs(profile)
    points = []
    for index, (source, config) in enumerate(recorded.design(profile, seed)):
        top, n = rng.uniform(0.5, 0.95), 3 if index in fail else epochs
        curves = {"val_accuracy": [top * (1 - 0.5 ** e) for e in range(1, n + 1)],
                  "test_accuracy": [top * (1 - 0.5 ** e) - 0.01 for e in range(1, n + 1)],
                  "epoch_seconds": [rng.uniform(1, 3) for _ in range(n)]}
        curves |= {k: [0.0] * n for k in recorded.CURVES if k not in curves}
        points.append(recorded.Point(index, source, config, curves, "diverged" if index in fail else None))
    return recorded.Table({"profile": profile.name, "seed": seed, "epochs": epochs, "data_checksum": "x"},
                          profile.space.applied.model_dump(mode="json"), {"fashion": points})


def test_design_is_the_grid_then_drawn_points_fixed_by_the_seed():
    design = recorded.design(PROFILE, 0)
    grid = entry("grid").build(PROFILE, 0, FIXED).searcher.points
    assert [c for _, c in design[:16]] == grid and [s for s, _ in design[:len(grid)]] == ["grid"] * 16
    assert len(design) == 16 * PROFILE.record.grid_seeds + PROFILE.record.random_points == 160
    assert [s for s, _ in design[16:128]] == ["sobol"] * 112 and design[128:] == design[:16] * 2  # the replicas
    assert recorded.design(PROFILE, 0) == design and recorded.design(PROFILE, 1) != design
    assert recorded.epochs(PROFILE) == 25


def test_nearest_maps_a_design_point_to_itself_and_a_proposal_to_its_neighbour():
    points = synthetic_table().points("fashion")
    nearest = recorded.Nearest(points, SPACE)
    for p in points:
        assert nearest(p.config) is next(q for q in points if q.config == p.config)
    target = points[20]
    moved = {**target.config, "learning_rate": target.config["learning_rate"] * 1.001}
    assert nearest(moved) is target
    # another optimizer costs a whole unit: the nearest point keeps the proposal's optimizer
    other = {**target.config, "optimizer": "sgd" if target.config["optimizer"] != "sgd" else "adam"}
    assert nearest(other).config["optimizer"] == other["optimizer"]


def test_a_job_gives_its_points_curve_at_stop_and_the_seconds_of_its_epochs():
    point = synthetic_table().points("fashion")[0]
    outcome = replayed(point, Job(0, point.config, 4, 16, rung=2))
    assert outcome.score == point.curves["val_accuracy"][15] and outcome.test_accuracy == point.curves[
        "test_accuracy"][15]
    assert outcome.epochs_trained == 12 and outcome.train_seconds == pytest.approx(
        sum(point.curves["epoch_seconds"][4:16]))


def test_a_job_that_reaches_a_failed_points_end_fails_charged_what_it_trained():
    point = synthetic_table(fail={0}).points("fashion")[0]
    assert replayed(point, Job(0, point.config, 0, 2)).error is None
    outcome = replayed(point, Job(0, point.config, 0, 25))
    assert outcome.error and "diverged" in outcome.error and math.isnan(outcome.score)
    assert outcome.epochs_trained == 3


def test_replayed_grid_search_finds_the_tables_best_grid_point():
    table = synthetic_table()
    points = table.points("fashion")
    driver = ReplayDriver(recorded.Nearest(points, table.space))
    result = run_search(entry("grid").build(PROFILE, 0, FIXED), Budget(400), driver, progress=None)
    grid = [p for p in points if p.source == "grid"][:16]  # their first trainings (the recording's seed)
    best = max(grid, key=lambda p: p.curves["val_accuracy"][24])
    assert result.best_val == best.curves["val_accuracy"][24] and result.best_test == best.curves["test_accuracy"][24]
    assert result.budget_used == 400 and len(result.trials) == 16


@pytest.mark.parametrize("method", names())
@pytest.mark.parametrize("workers", [1, 3, 8])
def test_every_method_replays_within_budget_on_a_simulated_clock(method, workers):
    table = synthetic_table(fail={3, 17})
    driver = ReplayDriver(recorded.Nearest(table.points("fashion"), table.space), workers)
    result = run_search(entry(method).build(PROFILE, 5, FIXED), Budget(400), driver, progress=None)
    assert result.budget_used <= 400 and result.budget_used == sum(o.epochs_trained for _, o in result.jobs)
    assert len(driver.ended_at) == len(result.jobs) and driver.ended_at == sorted(driver.ended_at)
    curve = anytime(result, driver.ended_at)
    assert [row[0] for row in curve] == sorted(row[0] for row in curve) and curve[-1][0] == result.budget_used
    assert curve[-1][2] == result.best_val and curve[-1][3] == result.best_test
    at_shares = best_at_shares([(c, v, t) for c, _, v, t in curve], 400)
    assert at_shares[1.0] == (result.best_val, result.best_test)
    charged, ends = 0, []  # the same from the jobs themselves, as the report reads a live study
    for _, o in result.jobs:
        charged += o.epochs_trained
        ends.append((charged, math.nan if o.error else o.score, o.test_accuracy))
    assert str(best_at_shares(ends, 400)) == str(at_shares)  # str: NaN equals NaN
    if method == "asha":
        at_r = {j.trial for j, o in result.jobs if j.stop == PROFILE.asha.R and o.error is None}
        assert len(at_r) <= PROFILE.asha.max_trials_at_R


def test_more_workers_finish_sooner_on_the_simulated_clock():
    table = synthetic_table()
    ends = {}
    for workers in (1, 4):
        driver = ReplayDriver(recorded.Nearest(table.points("fashion"), table.space), workers)
        result = run_search(entry("random").build(PROFILE, 0, FIXED), Budget(400), driver, progress=None)
        ends[workers] = driver.ended_at[-1]
        assert ends[workers] <= result.train_seconds + 1e-9
    assert ends[4] < ends[1] / 3


def test_a_table_round_trips_through_its_file_and_a_bad_file_is_one_error(tmp_path):
    table = synthetic_table()
    path = tmp_path / "t.json"
    recorded.save(table, path)
    back = recorded.load(path)
    assert back.points("fashion") == table.points("fashion") and back.provenance == table.provenance
    assert len(back.checksum) == 64
    with pytest.raises(UserError, match="has no dataset 'digits'"):
        back.points("digits")
    path.write_text('{"format": "something else"}')
    with pytest.raises(UserError, match="not one hpo record wrote"):
        recorded.load(path)
    with pytest.raises(UserError, match="not found: make it with hpo record"):
        recorded.load(tmp_path / "missing.json")


def test_replicas_are_looked_up_by_search_seed_and_the_recordings_own_seed_gets_the_first():
    table = synthetic_table()
    points = table.points("fashion")
    nearest = recorded.Nearest(points, table.space)
    grid = [p for p in points if p.source == "grid"][:16]
    assert all(len(nearest.replicas[p.index]) == 3 for p in grid)
    assert all(len(nearest.replicas[p.index]) == 1 for p in points if p.source == "sobol")
    own = nearest.for_search(0, 0)
    assert [own(p.config).index for p in grid] == [p.index for p in grid]  # exactly the live grid's trainings
    chosen = {seed: [nearest.for_search(seed, 0)(p.config).index for p in grid] for seed in range(1, 30)}
    assert chosen == {seed: [nearest.for_search(seed, 0)(p.config).index for p in grid] for seed in range(1, 30)}
    for indices in chosen.values():  # always a training of the same configuration
        assert [points[i].config for i in indices] == [p.config for p in grid]
    used = {i for indices in chosen.values() for i in indices}
    assert all(len({r.index for r in nearest.replicas[p.index]} & used) == 3 for p in grid)  # every replica serves


def test_a_table_saved_compressed_loads_the_same_with_the_same_checksum(tmp_path):
    table = synthetic_table(fail={3})
    recorded.save(table, tmp_path / "t.json")
    plain = table.checksum
    recorded.save(table, tmp_path / "t.json.gz")
    size = (tmp_path / "t.json").stat().st_size
    assert table.checksum == plain and (tmp_path / "t.json.gz").stat().st_size < size / 3
    again = recorded.load(tmp_path / "t.json.gz")
    assert again.checksum == plain and json.loads(again.to_json()) == json.loads(table.to_json())
    recorded.save(table, tmp_path / "u.json.gz")  # no time stamp: the same bytes
    assert (tmp_path / "u.json.gz").read_bytes() == (tmp_path / "t.json.gz").read_bytes()
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(UserError, match="is not one hpo record wrote"):
        recorded.load(tmp_path / "bad.json.gz")
