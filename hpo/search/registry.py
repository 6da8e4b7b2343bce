"""The one home of what a method is. Every other part of the suite (the stages, replay, the
report, the CLI) asks the registry, and names no method itself.

An entry says how to build the method from a profile and a search seed, how tables and figures
show it, the checks before its search starts, whether its trials resume from checkpoints, and the
longest job it can ask for (what a recorded table must cover). The built-in methods are
registered below, in the order tables list them; an installed package adds its own through the
entry-point group `hpo.methods`, each entry point naming a `MethodEntry` (or a function that
returns one), as pytest and MLflow plugins do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import metadata
from importlib.util import find_spec
from typing import Callable

from hpo.errors import UserError
from hpo.search.base import Method, MethodSettings

ENTRY_POINT_GROUP = "hpo.methods"
STUDY_I = "random"  # the name Study I's random trainings carry (hpo/studies/importance.py)
STUDY_III = "asha"  # the method Study III searches each subset with (hpo/studies/subset.py)
GRID_POINTS, DRAWN_POINTS = "grid", "random"  # where a recorded table's design points come from (hpo/recorded.py)
# The paper's claims about its methods, tested on repetitions (hpo/report/statistics.py): (claim, better, worse)
PAPER_CLAIMS = (("ASHA reaches a better configuration than grid search within the same budget", "asha", "grid"),
                ("TPE beats random search", "tpe", "random"))


@dataclass(frozen=True)
class MethodEntry:
    name: str  # what --methods, tags and run names say
    label: str  # what tables and figures say
    colour: str  # its colour in figures (a Matplotlib colour)
    build: Callable[..., Method]  # (profile, search seed, fixed hyperparameters) -> a new Method
    first_job: Callable[[object], int]  # the epochs its first job needs, for a profile (ValueError: bad settings)
    longest_job: Callable[[object], int]  # the most epochs one trial trains to, for a profile
    resumable: bool = False  # promoted trials resume from checkpoints (kept with the study)
    study_ii: bool = False  # one of the paper's four, which Study II runs by default
    describe: Callable[[object], str] | None = None  # its plan for a profile, printed before its search
    requires: tuple[str, ...] = ()  # modules it imports that the suite does not install (an optional extra)
    settings: type[MethodSettings] | None = None  # its section of a profile, `methods: {name: {...}}`

    def check(self, profile, budget: int) -> None:
        """What is wrong with running it on `profile` under `budget` epochs, found before any run."""
        missing = [module for module in self.requires if find_spec(module) is None]
        if missing:
            raise UserError(f"{self.name} needs the package {', '.join(missing)}, which is not installed: "
                            f"pip install -r requirements-{missing[0]}.txt, or leave {self.name} out")
        try:
            first = self.first_job(profile)
        except ValueError as e:
            raise UserError(f"{self.name} settings of profile {profile.name}: {e}") from None
        if budget < first:
            raise UserError(f"budget {budget} cannot pay {self.name}'s first job of {first} epochs")


def _built_in() -> list[MethodEntry]:
    from hpo.search import hyperband
    from hpo.search.asha import asha, first_rung, top_rung
    from hpo.search.base import FifoSettings
    from hpo.search.grid import grid
    from hpo.search.optuna_search import optuna_cmaes, optuna_gp, optuna_tpe
    from hpo.search.random import random_search
    from hpo.search.rung_model import ModelSettings, asha_tpe
    from hpo.search.smac_search import smac
    from hpo.search.tpe import tpe

    def per_configuration(profile) -> int:
        return profile.budget.epochs_per_configuration

    def fifo(name: str, label: str, colour: str, build, **more) -> MethodEntry:
        """A method whose configurations each train the same epochs, set in its profile section."""
        def epochs(profile) -> int:
            return FifoSettings.of(profile, name).resolved(profile)[1]
        return MethodEntry(name, label, colour, build, epochs, epochs, settings=FifoSettings, **more)

    return [
        MethodEntry("grid", "grid search", "C0", grid, per_configuration, per_configuration, study_ii=True),
        MethodEntry("random", "random search", "C1", random_search, per_configuration, per_configuration,
                    study_ii=True),
        MethodEntry("tpe", "TPE (Bayesian)", "C2", tpe, per_configuration, per_configuration, study_ii=True),
        MethodEntry("asha", "ASHA", "C3", asha, first_rung, top_rung, resumable=True, study_ii=True),
        MethodEntry("hyperband", "Hyperband", "C4", hyperband.hyperband, **hyperband.plan("hyperband")),
        MethodEntry("bohb", "BOHB (Hyperband + TPE)", "C5", hyperband.bohb,
                    **hyperband.plan("bohb", hyperband.BohbSettings)),
        MethodEntry("asha_tpe", "ASHA + TPE", "C6", asha_tpe, first_rung, top_rung, resumable=True,
                    settings=ModelSettings),
        fifo("optuna_tpe", "Optuna TPE (multivariate)", "C7", optuna_tpe),
        fifo("optuna_cmaes", "Optuna CMA-ES", "C8", optuna_cmaes),
        fifo("optuna_gp", "Optuna GP (Bayesian)", "tab:olive", optuna_gp, requires=("torch",)),
        fifo("smac", "SMAC3 (random forest)", "tab:cyan", smac),
    ]


def _installed() -> list[MethodEntry]:
    """The methods installed packages add (entry-point group hpo.methods)."""
    found = []
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry = point.load()
            entry = entry() if callable(entry) and not isinstance(entry, MethodEntry) else entry
        except Exception as e:  # a broken plug-in names itself, and the suite still runs
            raise UserError(f"the method plug-in {point.name} ({point.value}) cannot be loaded: "
                            f"{type(e).__name__}: {e}: fix or uninstall its package") from None
        if not isinstance(entry, MethodEntry):
            raise UserError(f"the method plug-in {point.name} ({point.value}) gives {type(entry).__name__}, "
                            "not an hpo.search.registry.MethodEntry")
        found.append(entry)
    return found


@cache
def registry() -> dict[str, MethodEntry]:
    """Every method, built-in first, by name."""
    entries: dict[str, MethodEntry] = {}
    for entry in [*_built_in(), *_installed()]:
        if entry.name in entries:
            raise UserError(f"two methods are named {entry.name}: uninstall one of the packages that add it")
        entries[entry.name] = entry
    return entries


def names() -> list[str]:
    return list(registry())


def study_ii_names() -> list[str]:
    """The paper's four: what Study II runs when no method is named."""
    return [name for name, entry in registry().items() if entry.study_ii]


def label(name: str) -> str:
    """What tables and figures call a method (its name where the registry does not know it)."""
    known = registry().get(name)
    return known.label if known else name


def entry(name: str) -> MethodEntry:
    try:
        return registry()[name]
    except KeyError:
        raise UserError(f"unknown method {name!r}: choose from {', '.join(names())}, or all") from None


def resolve(requested: list[str] | None, profile=None) -> list[str]:
    """The methods a command names (`all`: every registered one; none: the paper's four), checked;
    less those `profile` leaves out (`methods: {name: false}`)."""
    off = {name for name, section in (profile.methods.items() if profile else ()) if section is False}
    if not requested:
        return [name for name in study_ii_names() if name not in off]
    if requested == ["all"]:
        return [name for name in names() if name not in off]
    for name in requested:
        entry(name)
        if name in off:
            raise UserError(f"method {name} is left out of profile {profile.name} (methods.{name}: false): "
                            "name another, or change the profile")
    return list(requested)
