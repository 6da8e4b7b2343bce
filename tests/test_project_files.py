"""The project's own files agree with each other: pins, entry points, ignore rules."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.match(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def test_conda_and_pyproject_pins_equal_the_lock_file():
    lock = _pins((ROOT / "requirements.txt").read_text().splitlines()
                 + (ROOT / "requirements-torch.txt").read_text().splitlines())  # the optional extra
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    assert "python=3.11" in conda["dependencies"] and any(str(d).startswith("swig") for d in conda["dependencies"])
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    for name, version in {**_pins(pip_section),
                          **_pins(re.findall(r'"([^"]+==[^"]+)"', (ROOT / "pyproject.toml").read_text()))}.items():
        assert lock.get(name) == version, f"{name}=={version} differs from requirements.txt ({lock.get(name)})"


def test_every_entry_point_takes_profile_and_seed():
    project = yaml.safe_load((ROOT / "MLproject").read_text())
    assert {"prepare", "train", "importance", "compare", "subset", "report"} <= set(project["entry_points"])
    for name, entry in project["entry_points"].items():
        assert {"profile", "seed"} <= set(entry["parameters"]), name
        assert entry["command"].startswith(f"python -m hpo {name} ")


def test_tracking_store_and_environments_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in ("mlflow.db", "mlruns/", ".venv/", "prepared/"):
        assert entry in ignored
