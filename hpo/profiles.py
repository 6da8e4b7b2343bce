"""Profiles: one YAML file fixes datasets, backbone, search spaces, budget and scale.

`load_profile` validates strictly (unknown keys, wrong types, inverted ranges, impossible
budgets) and turns the first problem into one `UserError` line naming the key.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hpo.errors import UserError

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
OPTIMIZERS = ("adam", "adadelta", "rmsprop", "sgd")
Optimizer = Literal["adam", "adadelta", "rmsprop", "sgd"]
PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _distinct(name: str, values: list) -> None:
    if not values:
        raise ValueError(f"{name} must list at least one value")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} lists a value twice: {values}")


class DatasetSpec(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]+$")]
    format: str
    path: str | None = None
    classes: list[NonNegInt] | None = None  # keep these original classes, relabelled 0..n-1
    train: PosInt
    val: PosInt
    test_per_class: PosInt


class DatasetsSpec(_Strict):
    source: DatasetSpec | None = None  # pretraining task of the compact backbone
    targets: Annotated[list[DatasetSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self):
        _distinct("targets' names", [t.name for t in self.targets])
        return self


class PretrainSpec(_Strict):
    epochs: PosInt
    learning_rate: Annotated[float, Field(gt=0)]
    batch_size: PosInt
    input_size: PosInt


class BackboneSpec(_Strict):
    name: Literal["compact", "xception"]
    # xception: imagenet | none | a file path; compact: pretrained (by `prepare`) | none
    weights: str = "none"
    pretrain: PretrainSpec | None = None

    @model_validator(mode="after")
    def _weights(self):
        if self.name == "compact":
            if self.weights not in ("pretrained", "none"):
                raise ValueError(f"weights: compact takes 'pretrained' or 'none', not {self.weights!r}")
            if self.weights == "pretrained" and self.pretrain is None:
                raise ValueError("pretrain: a pretrained compact backbone needs a pretrain section")
        elif self.pretrain is not None:
            raise ValueError("pretrain: only the compact backbone is pretrained by prepare")
        return self


class Range(_Strict):
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _order(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"low ({self.low}) must be positive on a log scale")
        return self


class SpaceSpec(_Strict):
    learning_rate: Range
    dropout: Range
    optimizer: list[Optimizer]
    fine_tuned_layers: list[NonNegInt]
    input_size: list[PosInt]
    batch_size: list[PosInt]

    @model_validator(mode="after")
    def _values(self):
        if self.learning_rate.low <= 0:
            raise ValueError("learning_rate: low must be positive")
        if self.dropout.low < 0 or self.dropout.high >= 1:
            raise ValueError("dropout: must lie in [0, 1)")
        for key in ("optimizer", "fine_tuned_layers", "input_size", "batch_size"):
            _distinct(key, getattr(self, key))
        return self


class GridSpec(_Strict):
    learning_rate: list[Annotated[float, Field(gt=0)]]
    optimizer: list[Optimizer]
    fine_tuned_layers: list[NonNegInt]
    dropout: list[Annotated[float, Field(ge=0, lt=1)]]

    @model_validator(mode="after")
    def _values(self):
        for key in type(self).model_fields:
            _distinct(key, getattr(self, key))
        return self

    @property
    def size(self) -> int:
        return len(self.learning_rate) * len(self.optimizer) * len(self.fine_tuned_layers) * len(self.dropout)


class Spaces(_Strict):
    initial: SpaceSpec  # Table 2A, Study I
    applied: SpaceSpec  # Table 2B, Studies II and III
    grid: GridSpec


class BudgetSpec(_Strict):
    epochs: PosInt  # per method
    configurations: PosInt
    epochs_per_configuration: PosInt
    tpe_startup: NonNegInt

    @model_validator(mode="after")
    def _fits(self):
        if self.tpe_startup > self.configurations:
            raise ValueError(f"tpe_startup ({self.tpe_startup}) exceeds configurations ({self.configurations})")
        if self.configurations * self.epochs_per_configuration > self.epochs:
            raise ValueError(f"configurations x epochs_per_configuration = "
                             f"{self.configurations * self.epochs_per_configuration} exceeds epochs ({self.epochs})")
        return self


class AshaSpec(_Strict):
    r: PosInt  # min epochs
    R: PosInt  # max epochs
    eta: Annotated[int, Field(ge=2)]  # reduction factor
    s: NonNegInt  # minimum early-stopping rate
    max_trials_at_R: PosInt  # N_m

    @model_validator(mode="after")
    def _order(self):
        if self.r > self.R:
            raise ValueError(f"r ({self.r}) must not exceed R ({self.R})")
        if self.r * self.eta**self.s > self.R:
            raise ValueError(f"s ({self.s}): the first rung r * eta^s = {self.r * self.eta**self.s} exceeds R ({self.R})")
        return self


class ImportanceSpec(_Strict):
    trainings: PosInt
    epochs: PosInt


AUGMENTATIONS = ("rotation", "zoom", "vertical_flip")  # Study III's offline augmentations (hpo/data/augment.py)


class WholeSetSpec(_Strict):
    """Study III's whole (imbalanced) training set, drawn from the target's images outside its test set."""
    train: PosInt
    val: PosInt
    # per-class shares of the whole set (classes in the target's order): the imbalance it is built
    # with; absent, the whole set keeps the dataset's own class proportions
    class_fractions: list[Annotated[float, Field(gt=0)]] | None = None

    @model_validator(mode="after")
    def _fractions(self):
        if self.class_fractions is not None:
            if len(self.class_fractions) < 2:
                raise ValueError("class_fractions: needs one fraction per class (at least 2)")
            if abs(sum(self.class_fractions) - 1) > 1e-3:
                raise ValueError(f"class_fractions: must sum to 1, not {sum(self.class_fractions):.4g}")
        return self


class SubsetSpec(_Strict):
    """Study III (Table 1's MIO-TCD rows, Table 7): a class-balanced and a class-imbalanced subset of
    the same size, both drawn from the whole training set; every variant is scored on the target's
    balanced test set, disjoint from all of them."""
    dataset: str  # a target of this profile: its images, its balanced test set
    whole: WholeSetSpec
    train: PosInt  # training images of each subset
    val: PosInt  # validation images of each subset
    # offline augmentation of the imbalanced subset's training images: one altered copy per entry
    augmentations: list[Literal[AUGMENTATIONS]] = list(AUGMENTATIONS)
    max_trials_at_R: PosInt = 2  # ASHA's N_m in Study III (Section 3.3); the rest of ASHA as in `asha`

    STUDY_ONLY: ClassVar[frozenset[str]] = frozenset({"max_trials_at_R"})  # the keys `prepare` does not read

    @model_validator(mode="after")
    def _sizes(self):
        _distinct("augmentations", self.augmentations)
        if self.train + self.val > self.whole.train + self.whole.val:
            raise ValueError(f"train + val ({self.train + self.val}) exceed the whole set "
                             f"({self.whole.train + self.whole.val}) they are drawn from")
        return self


class CacheSpec(_Strict):
    """Frozen-feature cache (hpo/training/feature_cache.py): memory first, then disk, else none."""
    enabled: bool = True
    memory_mb: NonNegInt = 1024
    disk_mb: NonNegInt = 0
    dir: str = ".hpo-cache"


class Profile(_Strict):
    name: str
    description: str = ""
    datasets: DatasetsSpec
    backbone: BackboneSpec
    space: Spaces
    budget: BudgetSpec
    asha: AshaSpec
    importance: ImportanceSpec
    subset: SubsetSpec | None = None  # Study III; `prepare` builds its subsets when present
    cache: CacheSpec = CacheSpec()
    source_file: str = ""  # set by load_profile
    checksum: str = ""  # sha256 of the YAML text, set by load_profile

    @property
    def prepare_checksum(self) -> str:
        """sha256 of what `prepare` reads (the datasets, the backbone and the subsets of Study III):
        a prepared folder stays valid while only the search space, budgets or study settings change."""
        sections = self.model_dump(mode="json", include={"name", "datasets", "backbone"})
        if self.subset is not None:  # absent, the checksum is what it was before Study III existed
            sections["subset"] = self.subset.model_dump(mode="json", exclude=set(SubsetSpec.STUDY_ONLY))
        return hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()

    @model_validator(mode="after")
    def _consistent(self):
        if self.backbone.name == "compact" and self.backbone.weights == "pretrained" and self.datasets.source is None:
            raise ValueError("datasets.source: a pretrained compact backbone needs a source dataset")
        if self.space.grid.size > self.budget.configurations:
            raise ValueError(f"space.grid has {self.space.grid.size} points, more than "
                             f"budget.configurations ({self.budget.configurations})")
        if self.subset is not None:
            names = [t.name for t in self.datasets.targets]
            if self.subset.dataset not in names:
                raise ValueError(f"subset.dataset: {self.subset.dataset!r} is not a target of this profile: "
                                 f"choose one of {', '.join(names)}")
            classes = self.target(self.subset.dataset).classes
            fractions = self.subset.whole.class_fractions
            if classes and fractions is not None and len(fractions) != len(classes):
                raise ValueError(f"subset.whole.class_fractions: {len(fractions)} fractions for the "
                                 f"{len(classes)} classes of {self.subset.dataset}")
        return self

    @property
    def argument(self) -> str:
        """How to name this profile on the command line: its name if it is a bundled one."""
        bundled = PROFILES_DIR / f"{self.name}.yaml"
        return self.name if self.source_file == str(bundled) else self.source_file

    def target(self, name: str) -> DatasetSpec:
        for spec in self.datasets.targets:
            if spec.name == name:
                return spec
        raise UserError(f"dataset {name!r} is not in profile {self.name}: "
                        f"choose one of {', '.join(t.name for t in self.datasets.targets)}")


class _Loader(yaml.SafeLoader):
    """PyYAML reads 1e-5 as a string (YAML 1.1 wants 1.0e-5); accept the usual float syntax."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
               r"|[0-9][0-9_]*[eE][-+]?[0-9]+|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def resolve_profile_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        if not path.is_file():
            raise UserError(f"profile file {path} does not exist")
        return path
    path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise UserError(f"unknown profile {name_or_path!r}: choose one of {', '.join(available_profiles())} "
                        f"or give a path to a YAML file")
    return path


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"] and re.match(r"^[A-Za-z_][\w.]*: ", message):  # a whole-profile check names its key
        return message
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    return f"{where}: {message} (got {error['input']!r})" if "input" in error and error["type"] != "value_error" \
        else f"{where}: {message}"


def parse_profile(text: str, source: str = "<string>") -> Profile:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"profile {source} is not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise UserError(f"profile {source} must be a mapping of keys to values, got {type(data).__name__}")
    data = {**data, "source_file": source, "checksum": hashlib.sha256(text.encode()).hexdigest()}
    try:
        return Profile.model_validate(data)
    except ValidationError as e:
        raise UserError(f"profile {source}: {_describe(e.errors()[0])}") from None


def load_profile(name_or_path: str) -> Profile:
    path = resolve_profile_path(name_or_path)
    return parse_profile(path.read_text(), source=str(path))
