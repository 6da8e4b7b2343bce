"""Hostile input, generated: malformed profiles and command lines, each run in-process through
`hpo.cli.main`, must end with a non-zero exit, exactly one line on stderr, no traceback, no run
left in the tracking store, within a time bound.

- Every number of every bundled profile, defaults included, is set to values no sane profile
  holds (negative, 10^12, 1e308, infinite, NaN, text, a list): a key added without a range fails here.
- Profile files that are not UTF-8, not YAML, not a mapping, with anchors and aliases (a
  "billion laughs"), duplicate keys, a name that leaves its folder, a cache folder that cannot exist.
- Command lines drawn by Hypothesis (fixed seed) from every stage and a bad value of each option.
"""

import math
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

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
    "--scheduler": ["nonsense"],
    "--bogus": ["1"],
}
STAGES = ("prepare", "train", "importance", "compare", "subset", "report", "ui")


@settings(max_examples=250, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stage=st.sampled_from(STAGES),
       bad=st.sampled_from([(option, value) for option, values in BAD_OPTIONS.items() for value in values]))
def test_a_command_line_with_one_bad_value_is_one_line(stage, bad, capsys, client):
    option, value = bad
    # report reads any profile's studies by name, and its --seed '' means any seed
    assume(not (stage == "report" and (option == "--profile" or (option, value) == ("--seed", ""))))
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
