"""Hostile input, generated: malformed profiles and command lines, each run in-process through
`hpo.cli.main`, must end with a non-zero exit, exactly one line on stderr, no traceback, no run
left in the tracking store, within a time bound.

- Every number of every bundled profile, defaults included, is set to values no sane profile
  holds (negative, 10^12, 1e308, infinite, NaN, text, a list): a key added without a range fails here.
- Profile files that are not UTF-8, not YAML, not a mapping, with anchors and aliases (a
  "billion laughs"), duplicate keys, a name that leaves its folder, a cache folder that cannot exist.
- Command lines drawn by Hypothesis (fixed seed) from every stage and a bad value of each option.
- Stores that cannot be used, for the stages that write and for the report; paths a stage would
  write that cannot be written; `hpo init`'s weights, name and linked class folders; recorded
  tables of another profile version or other data, or damaged; prepared folders with a damaged
  manifest or an empty split: each a line that names the problem, never the unexpected-error fallback.
- A study whose every trial failed ends non-zero with one line (slow: it runs a study).
"""

import json
import math
import time
from pathlib import Path

import pytest
import yaml

from hpo.cli import main
from hpo.profiles import PROFILES_DIR, available_profiles, load_profile
from tests.mlflow_server import free_port

BOUND_SECONDS = 10  # per case: the slowest real one takes well under a second
BAD_NUMBERS = (-1, 10**12, 1e308, math.inf, math.nan, "lots", [3])


def _run(argv: list[str], capsys) -> tuple[int, str, float]:
    capsys.readouterr()  # what came before (MLflow creating the store) is not this case's
    started = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's exit
        code = e.code
    return code, capsys.readouterr().err, time.perf_counter() - started


def _runs(client) -> int:
    return len(client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000))


def _problems(case: str, argv: list[str], capsys) -> list[str]:
    """What is wrong with how the suite answered `argv`: nothing if it failed well."""
    code, err, seconds = _run(argv, capsys)
    lines = err.strip().splitlines()
    problems = []
    if not code:
        problems.append("exit status 0")
    if len(lines) != 1 or "Traceback" in err or len(err) > 1000:
        problems.append(f"stderr is not one short line: {err[-600:]!r}")
    if seconds > BOUND_SECONDS:
        problems.append(f"took {seconds:.1f} s")
    return [f"{case}: {p}" for p in problems]


def _leaves(data, path=()):
    """(path, value) of every number in a parsed profile."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*path, index))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield path, data


def _with(data, path, value):
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _with(data[path[0]], path[1:], value)
    return copy


def test_every_number_of_every_profile_has_a_range(tmp_path, capsys, client):
    before, problems, cases = _runs(client), [], 0
    for name in available_profiles():  # every key, the ones a profile leaves at their default included
        data = load_profile(name).model_dump(mode="json", exclude={"source_file", "checksum"})
        for path, _ in _leaves(data):
            for bad in BAD_NUMBERS:
                file = tmp_path / f"case{cases}.yaml"
                file.write_text(yaml.safe_dump(_with(data, path, bad)))
                problems += _problems(f"{name} {'.'.join(map(str, path))} = {bad!r}",
                                      ["prepare", "--profile", str(file)], capsys)
                cases += 1
    assert cases >= 200 and not problems, f"{len(problems)} of {cases} cases:\n" + "\n".join(problems[:40])
    assert _runs(client) == before


SMOKE = (PROFILES_DIR / "smoke.yaml").read_text()
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9))
MALFORMED = {
    "latin-1": ("# profile\ndescription: caf\xe9\n" + SMOKE).encode("latin-1"),
    "utf-16 with BOM": SMOKE.encode("utf-16"),
    "random bytes": bytes(range(256)) * 4,
    "billion laughs": LAUGHS.encode(),
    "an anchor": SMOKE.replace("seed", "seed").replace("name: smoke", "name: &n smoke").encode(),
    "duplicate key": (SMOKE + "\nname: other\n").encode(),
    "duplicate nested key": SMOKE.replace("asha:\n", "asha:\n  eta: 3\n", 1).encode(),
    "not a mapping": b"- a\n- b\n",
    "empty": b"",
    "bad YAML": b"name: [smoke\n",
    "tab indentation": b"name: smoke\nasha:\n\tr: 1\n",
    "unknown key": (SMOKE + "\nturbo: true\n").encode(),
    "escaping name": SMOKE.replace("name: smoke", "name: ../escaped").encode(),
    "hidden name": SMOKE.replace("name: smoke", "name: .smoke").encode(),
    "cache under a file": (SMOKE + "\ncache:\n  dir: /dev/null/x\n").encode(),
    "huge s": SMOKE.replace("  s: 0", "  s: 100000000").encode(),
    "infinite learning rate": SMOKE.replace("{low: 1.0e-4, high: 0.03", "{low: 1.0e-4, high: .inf").encode(),
    "too large": b"name: smoke\n" + b"# padding\n" * 200_000,
    "unknown method section": (SMOKE + "\nmethods:\n  hillclimb: {}\n").encode(),
    "method setting out of range": (SMOKE + "\nmethods:\n  hyperband: {R: -4}\n").encode(),
    "method setting not a number": (SMOKE + "\nmethods:\n  smac: {configurations: lots}\n").encode(),
    "method section not a mapping": (SMOKE + "\nmethods:\n  bohb: [1, 2]\n").encode(),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_profile_file_is_one_line(case, tmp_path, capsys, client):
    before = _runs(client)
    file = tmp_path / "profile.yaml"
    file.write_bytes(MALFORMED[case])
    assert _problems(case, ["prepare", "--profile", str(file)], capsys) == []
    assert _runs(client) == before


def test_the_malformed_profiles_still_differ_from_smoke_where_meant():
    # the substitutions above must have changed something, or the case tests nothing
    assert all(MALFORMED[case] != SMOKE.encode() for case in MALFORMED)
    assert b"high: .inf" in MALFORMED["infinite learning rate"] and b"s: 100000000" in MALFORMED["huge s"]
    assert b"name: &n smoke" in MALFORMED["an anchor"] and b"eta: 3" in MALFORMED["duplicate nested key"]


# --- command lines --------------------------------------------------------------------------

BAD_OPTIONS = {
    "--seed": ["-1", str(2**40), "x", "1.5", ""],
    "--epochs": ["0", "-3", str(10**9), "x"],
    "--learning-rate": ["nan", "inf", "-1", "1e308", "x", "0"],
    "--dropout": ["1", "-0.5", "nan"],
    "--fine-tuned-layers": ["-1", "100000"],
    "--input-size": ["0", "100000"],
    "--batch-size": ["0", "1000000"],
    "--optimizer": ["nesterov", ""],
    "--dataset": ["", "nope", "../x"],
    "--methods": [",", "grid,grid", "", "hillclimb", "grid,"],
    "--datasets": [",", "", "fashion,", "fashion,fashion"],
    "--budget": ["0", "-1", "x", str(10**9)],
    "--variants": [",", "bogus", ""],
    "--restart": ["maybe"],
    "--profile": ["nope", "/dev/null", ".", "../profiles/smoke"],
    "--port": ["0", "70000", "x"],
    "--init": ["warm"],
    "--study": [",", "x,,y"],
    "--workers": ["0", "x", "5000"],
    "--scheduler": ["nonsense", "", " "],
    "--bogus": ["1"],
}
STAGES = ("prepare", "train", "importance", "compare", "subset", "report", "ui")


def _bad_command_lines() -> list[tuple[str, str, str]]:
    """Every bad value, each under two stages (round robin, so every stage meets every option);
    report's --seed '' is left out: it means any seed."""
    bad = [(option, value) for option, values in BAD_OPTIONS.items() for value in values]
    cases = [(STAGES[(i + k) % len(STAGES)], option, value) for i, (option, value) in enumerate(bad) for k in (0, 3)]
    return [c for c in cases if c != ("report", "--seed", "")]


@pytest.mark.parametrize("stage, option, value", _bad_command_lines())
def test_a_command_line_with_one_bad_value_is_one_line(stage, option, value, capsys, client):
    before = _runs(client)
    assert _problems(f"hpo {stage} {option} {value!r}", [stage, option, value], capsys) == []
    assert _runs(client) == before


def test_no_stage_is_one_line(capsys):
    assert _problems("hpo", [], capsys) == []


def test_an_unexpected_failure_is_one_line_and_its_traceback_goes_to_a_file(monkeypatch, capsys):
    import hpo.cli

    def fail(args):
        raise RuntimeError("kaput\nwith a second line")

    monkeypatch.setattr(hpo.cli, "run", fail)
    code, err, _ = _run(["report"], capsys)
    [line] = err.strip().splitlines()
    assert code == 1 and line.startswith("hpo report: unexpected error: RuntimeError: kaput with a second line "
                                         "(traceback in ") and line.endswith("; please report it)")
    log = Path(line.split("(traceback in ", 1)[1].split(";", 1)[0])
    assert "Traceback (most recent call last)" in log.read_text() and "kaput" in log.read_text()


def _garbage_sqlite(tmp: Path) -> str:
    (tmp / "garbage.db").write_bytes(bytes(range(256)) * 40)
    return f"sqlite:///{tmp / 'garbage.db'}"


BROKEN_STORES = {
    "a port where nothing listens": lambda tmp: f"http://127.0.0.1:{free_port()}",
    "a sqlite path that is a folder": lambda tmp: f"sqlite:///{tmp}",
    "a sqlite file in no folder": lambda tmp: f"sqlite:///{tmp / 'missing' / 'mlflow.db'}",
    "a sqlite file that is garbage": _garbage_sqlite,
    "an unknown scheme": lambda tmp: "nosuchscheme://store",
}


@pytest.mark.parametrize("case", BROKEN_STORES)
def test_a_store_that_cannot_be_used_is_one_line_within_seconds(case, tmp_path, monkeypatch, capsys):
    uri = BROKEN_STORES[case](tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, err, seconds = _run(["train", "--profile", "smoke", "--epochs", "1"], capsys)
    [line] = err.strip().splitlines()
    assert code == 2 and seconds < BOUND_SECONDS, (code, seconds)
    assert line.startswith(f"hpo train: error: cannot use the tracking store {uri}") and line.endswith(
        "start its server or fix MLFLOW_TRACKING_URI (unset, it is sqlite:///mlflow.db)")


@pytest.mark.parametrize("case", BROKEN_STORES)
def test_a_report_on_a_store_that_cannot_be_used_is_one_line_within_seconds(case, tmp_path, monkeypatch, capsys):
    uri = BROKEN_STORES[case](tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, err, seconds = _run(["report", "--profile", "smoke", "--out", str(tmp_path / "reports")], capsys)
    [line] = err.strip().splitlines()
    assert code == 2 and seconds < BOUND_SECONDS, (code, seconds)
    assert line.startswith("hpo report: error: ") and uri in line and "unexpected error" not in line
    assert not (tmp_path / "reports").exists()


# --- one named line for each input that used to pass in silence or reach the fallback ----------

def _one_named_line(argv: list[str], capsys, *expected: str) -> str:
    """Run `argv`: exit 2, one line on stderr naming the problem (every `expected` part), not the fallback."""
    code, err, seconds = _run(argv, capsys)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err[-1000:]
    assert code == 2 and seconds < BOUND_SECONDS, (code, seconds, lines[0])
    assert "unexpected error" not in lines[0] and all(part in lines[0] for part in expected), lines[0]
    return lines[0]


def test_a_report_of_an_unknown_profile_name_is_refused(capsys, client, tmp_path):
    _one_named_line(["report", "--profile", "nosuchprofile", "--out", str(tmp_path / "r")], capsys,
                    "hpo report: error: unknown profile 'nosuchprofile': no profile file of that name")


def test_a_bad_train_value_is_refused_before_the_store_is_created(tmp_path, monkeypatch, capsys):
    store = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    _one_named_line(["train", "--profile", "smoke", "--input-size", "100000"], capsys,
                    "hpo train: error: input_size must be an integer from 1 to 1024, got 100000")
    _one_named_line(["train", "--profile", "smoke", "--dataset", "nope"], capsys, "dataset 'nope' is not in profile")
    assert not store.exists()


def test_an_empty_scheduler_is_refused(capsys):
    _one_named_line(["compare", "--profile", "smoke", "--scheduler", ""], capsys,
                    "argument --scheduler: expected local or the address of a Dask scheduler")


def test_a_host_that_does_not_resolve_is_not_a_busy_port(capsys):
    _one_named_line(["ui", "--host", "no such host", "--port", str(free_port())], capsys,
                    "hpo ui: error: --host 'no such host' does not resolve")


def test_a_keras_backend_that_cannot_load_is_one_line(tmp_path):
    import os
    import subprocess
    import sys
    # Keras reads KERAS_BACKEND once per process: a process of its own
    done = subprocess.run([sys.executable, "-m", "hpo", "train", "--profile", "smoke", "--epochs", "1"],
                          env={**os.environ, "KERAS_BACKEND": "nonsense"}, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    lines = [x for x in done.stderr.strip().splitlines() if " INFO mlflow." not in x]  # MLflow making the store
    assert done.returncode == 2 and lines == [
        "hpo train: error: Keras cannot load its backend 'nonsense' (Unable to import backend : nonsense): set "
        "KERAS_BACKEND to tensorflow (the default), jax or torch, installed in this environment"]


def _images(root: Path) -> Path:
    from tests.data.image_tree import make_tree
    return make_tree(root / "photos", {"cats": 6, "dogs": 6})


def _init_weights_file(tmp: Path) -> str:
    (tmp / "notes.h5").write_text("these are not weights")
    return str(tmp / "notes.h5")


INIT_CASES = {  # arguments after the image folder, and what the line must say
    "a misspelt word": (lambda tmp: ["--weights", "imagenett"], "did you mean imagenet?"),
    "a missing weights file": (lambda tmp: ["--weights", str(tmp / "none.h5")], "no such file"),
    "a file that is not weights": (lambda tmp: ["--weights", _init_weights_file(tmp)],
                                   "is not a Keras weights file"),
    "an empty name": (lambda tmp: ["--name", ""], "--name '': give 1 to 64 letters"),
    "a name with a separator": (lambda tmp: ["--name", "a/b"], "--name 'a/b': give 1 to 64 letters"),
    "an --out under a file": (lambda tmp: ["--out", str(_init_weights_file(tmp)) + "/p.yaml"],
                              "cannot write the profile to"),
}


@pytest.mark.parametrize("case", INIT_CASES)
def test_init_refuses_what_it_would_write_unchecked(case, tmp_path, capsys):
    photos = _images(tmp_path)
    arguments, expected = INIT_CASES[case]
    out = tmp_path / "p.yaml"
    _one_named_line(["init", str(photos), "--out", str(out), *arguments(tmp_path)], capsys, "hpo init: error: ",
                    expected)
    assert not out.exists()


def test_init_refuses_a_class_folder_that_links_back_into_the_images(tmp_path, capsys):
    photos = _images(tmp_path)
    (photos / "loop").symlink_to(photos, target_is_directory=True)
    (photos / "again").symlink_to(photos / "cats", target_is_directory=True)
    _one_named_line(["init", str(photos), "--out", str(tmp_path / "p.yaml")], capsys,
                    f"class folder {photos / 'again'} is a link to", "inside or above the image folder")


# Recorded tables: replay compares the profile (checksum, then settings) and data they were recorded with

def _table(tmp: Path, **provenance) -> Path:
    from hpo import recorded
    profile = load_profile("smoke")
    settings = recorded.profile_settings(profile)
    point = {"point": 0, "source": "grid", "error": None,
             "config": {"learning_rate": 0.001, "dropout": 0.2, "optimizer": "adam", "fine_tuned_layers": 9,
                        "input_size": 32, "batch_size": 32},
             **{key: [0.5] * 4 for key in recorded.CURVES}}
    table = {"format": recorded.FORMAT, "space": profile.space.applied.model_dump(mode="json"),
             "provenance": {"profile": "smoke", "profile_checksum": profile.checksum, "profile_settings": settings,
                            "seed": 0, "data_checksum": "d" * 64, "epochs": 4, **provenance},
             "datasets": {"digits": [point]}}
    file = tmp / "table.json"
    file.write_text(json.dumps(table))
    return file


def _edited(file: Path, old: str, new: str) -> Path:
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new, 1))
    return file


def _other_settings() -> dict:
    from hpo import recorded
    settings = recorded.profile_settings(load_profile("smoke"))
    settings["budget"]["epochs_per_configuration"] = 2
    return settings


REPLAYED_TABLES = {
    "another version of the profile": (
        lambda tmp: _table(tmp, profile_checksum="0" * 64, profile_settings=_other_settings()),
        "recorded under another version of profile smoke (budget.epochs_per_configuration 2 -> 4)"),
    "another version, settings not listed": (
        lambda tmp: _table(tmp, profile_checksum="0" * 64, profile_settings=None),
        "recorded under another version of profile smoke (checksum 000000000000"),
    "a point without a configuration": (lambda tmp: _edited(_table(tmp), '"learning_rate": 0.001',
                                                            '"learning_rate": "x"'),
                                        "design point 0 of digits has no configuration of numbers"),
    "a curve of text": (lambda tmp: _edited(_table(tmp), "[0.5, 0.5, 0.5, 0.5]", '"x"'),
                        "val_accuracy is not a list of numbers"),
    "no seed": (lambda tmp: _table(tmp, seed="0"), "its provenance lacks the seed or the data checksum"),
}


@pytest.mark.parametrize("case", REPLAYED_TABLES)
def test_replay_refuses_a_table_of_another_profile_version_or_damaged(case, tmp_path, capsys, client):
    make, expected = REPLAYED_TABLES[case]
    before = _runs(client)
    _one_named_line(["replay", "--profile", "smoke", "--table", str(make(tmp_path))], capsys, "hpo replay: error: ",
                    expected)
    assert _runs(client) == before


def _prepared(tmp: Path, monkeypatch, manifest: dict | None = None, **arrays) -> Path:
    """A prepared folder of the smoke profile, seed 0, in its own HPO_PREPARED_DIR: a manifest
    (the given one, or one that describes digits), and digits.npz of random images with `arrays` replaced."""
    import numpy as np

    from hpo.data.base import SplitData
    from hpo.data.prepared import save_split
    profile = load_profile("smoke")
    folder = tmp / "prepared" / "smoke-seed0"
    folder.mkdir(parents=True)
    monkeypatch.setenv("HPO_PREPARED_DIR", str(tmp / "prepared"))
    rng = np.random.default_rng(0)
    parts = {}
    for part, n in (("train", 20), ("val", 10), ("test", 10)):
        parts[f"x_{part}"] = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        parts[f"y_{part}"] = np.arange(n, dtype=np.int64) % 2
    parts.update(arrays)
    save_split(SplitData("digits", *(parts[k] for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")),
                         ("0", "1")), folder / "digits.npz")
    entry = {"checksum": "c" * 64, "train": 20, "val": 10, "test": 10}
    base = {"profile": "smoke", "profile_checksum": profile.prepare_checksum, "seed": 0, "data_checksum": "d" * 64,
            "datasets": {"digits": entry, "fashion": entry}}
    (folder / "manifest.json").write_text(json.dumps(base if manifest is None else manifest(base)))
    return folder


def _with_key(path: str, value):
    def change(manifest: dict) -> dict:
        keys = path.split(".")
        inner = manifest
        for key in keys[:-1]:
            inner = inner[key]
        inner[keys[-1]] = value
        return manifest
    return change


DAMAGED_MANIFESTS = {  # each reached the unexpected-error fallback, or said something odd
    "a dataset entry that is not a mapping": (_with_key("datasets.digits", "digits.npz"),
                                              "manifest.json has datasets.digits that is not a mapping"),
    "datasets a list": (_with_key("datasets", ["digits"]), "manifest.json has datasets that is not a mapping"),
    "a dataset entry without a checksum": (_with_key("datasets.digits", {"train": 20}),
                                           "manifest.json has datasets.digits without a checksum"),
    "a seed that is text": (_with_key("seed", "0"), "manifest.json has seed '0', not a whole number"),
    "a data checksum that is a number": (_with_key("data_checksum", 5),
                                         "manifest.json has data_checksum that is not text"),
    "subsets that are not a mapping": (_with_key("subsets", 3), "manifest.json has subsets that is not a mapping"),
}


@pytest.mark.parametrize("case", DAMAGED_MANIFESTS)
def test_a_damaged_manifest_is_named(case, tmp_path, monkeypatch, capsys, client):
    change, expected = DAMAGED_MANIFESTS[case]
    _prepared(tmp_path, monkeypatch, change)
    before = _runs(client)
    for argv in (["train", "--profile", "smoke", "--dataset", "digits", "--epochs", "1"],
                 ["compare", "--profile", "smoke", "--datasets", "digits", "--methods", "grid"]):
        _one_named_line(argv, capsys, "the prepared folder", "is damaged", expected, "run `hpo prepare --force`")
    assert _runs(client) == before


@pytest.mark.parametrize("part", ["train", "val", "test"])
def test_an_empty_split_is_named(part, tmp_path, monkeypatch, capsys, client):
    import numpy as np
    _prepared(tmp_path, monkeypatch, **{f"x_{part}": np.zeros((0, 8, 8, 3), np.uint8),
                                        f"y_{part}": np.zeros(0, np.int64)})
    before = _runs(client)
    for argv in (["train", "--profile", "smoke", "--dataset", "digits", "--epochs", "1"],
                 ["compare", "--profile", "smoke", "--datasets", "digits", "--methods", "grid"]):
        _one_named_line(argv, capsys, "digits.npz is damaged", f"({part}: no images)", "run `hpo prepare --force`")
    assert _runs(client) == before


def test_replay_refuses_a_table_recorded_on_other_data(tmp_path, monkeypatch, capsys, client):
    _prepared(tmp_path, monkeypatch)  # its data checksum is d...d; the table's another
    table = _table(tmp_path, data_checksum="e" * 64)
    _one_named_line(["replay", "--profile", "smoke", "--table", str(table)], capsys,
                    "the recorded table was recorded on other data than profile smoke's", "(data checksum eeeeeeeeeeee,"
                    " prepared dddddddddddd)")


# --- paths a stage will write, checked before any work -----------------------------------------

def _a_file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("x")
    return tmp / "a-file"


UNWRITABLE = {  # (environment, command line) with tmp; what the line must say
    "checkpoints in a file": (lambda tmp: ({"HPO_CHECKPOINT_DIR": str(_a_file(tmp))},
                                           ["compare", "--profile", "smoke", "--methods", "asha"]),
                              "cannot write checkpoints to", "a-file is not a folder: set HPO_CHECKPOINT_DIR"),
    "subset checkpoints under a file": (lambda tmp: ({"HPO_CHECKPOINT_DIR": str(_a_file(tmp) / "x")},
                                                     ["subset", "--profile", "smoke"]),
                                        "cannot write checkpoints to", "a-file is not a folder"),
    "a recorded table under a file": (lambda tmp: ({}, ["record", "--profile", "smoke", "--out",
                                                        str(_a_file(tmp) / "t.json")]),
                                      "cannot write the recorded table to",
                                      "a-file is not a folder: give another --out"),
    "a study record that is a folder": (lambda tmp: ({}, ["compare", "--profile", "smoke", "--record", str(tmp)]),
                                        "cannot write the study record to", "is a folder: give another --record"),
    "a report into a file": (lambda tmp: ({}, ["report", "--profile", "smoke", "--out", str(_a_file(tmp))]),
                             "cannot write the report to", "a-file is not a folder: give another --out"),
    "prepared data under a file": (lambda tmp: ({"HPO_PREPARED_DIR": str(_a_file(tmp))},
                                                ["prepare", "--profile", "smoke"]),
                                   "cannot write the prepared data to", "a-file is not a folder: set HPO_PREPARED_DIR"),
}


@pytest.mark.parametrize("case", UNWRITABLE)
def test_a_path_a_stage_cannot_write_is_one_line_before_any_work(case, tmp_path, monkeypatch, capsys, client):
    make, *expected = UNWRITABLE[case]
    environment, argv = make(tmp_path)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    before = _runs(client)
    _one_named_line(argv, capsys, *expected)
    assert _runs(client) == before


# --- a study whose every trial failed -----------------------------------------------------------

def _failing_training(fail_trial):
    """fine_tune that fails like a machine out of memory, on the trials `fail_trial(seed)` picks."""
    from hpo.training import fine_tune as real

    def fine_tune(config, data, epochs, **kwargs):
        if fail_trial(kwargs.get("seed")):
            raise RuntimeError("out of memory on this machine")
        return real(config, data, epochs, **kwargs)
    return fine_tune


@pytest.mark.slow
def test_a_study_whose_every_trial_failed_fails_with_one_line(smoke_prepared, monkeypatch, capsys, client):
    import hpo.executor.worker as worker
    from hpo import tracking

    monkeypatch.setattr(worker, "fine_tune", _failing_training(lambda seed: True))
    argv = ["compare", "--profile", "smoke", "--datasets", "digits", "--methods", "grid", "--budget", "4", "--restart"]
    code, err, _ = _run(argv, capsys)
    [line] = [x for x in err.strip().splitlines() if " INFO mlflow." not in x]  # MLflow making the experiment
    assert code == 2 and line == ("hpo compare: error: every trial of grid on digits failed (4 of 4; the first: "
                                  "RuntimeError: out of memory on this machine): fix that, then rerun with --restart")
    study = client.get_run(tracking.last_study_record()["run_id"])
    assert study.info.status == "FAILED" and study.data.tags["error"].startswith("UserError: every trial of grid")
    assert "table6.md" in {a.path for a in client.list_artifacts(study.info.run_id)}  # everything else recorded
    assert not client.search_runs([study.info.experiment_id], "attributes.status = 'RUNNING'")

    # some failed: the study succeeds and says how many at the end
    monkeypatch.setattr(worker, "fine_tune", _failing_training(lambda seed: seed == 0))
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    # trial 0 fails and charges nothing; trial 1 spends the budget
    assert out.endswith("\n1 of 2 trials failed (first: RuntimeError: out of memory on this machine)\n")
