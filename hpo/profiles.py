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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hpo.backbone_catalogue import BACKBONE_LAYERS, KERAS_APPLICATIONS, MIN_INPUT_SIZE
from hpo.errors import UserError

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
OPTIMIZERS = ("adam", "adadelta", "rmsprop", "sgd")
Optimizer = Literal["adam", "adadelta", "rmsprop", "sgd"]
# Every number has a range: far beyond these, a value is a typo that would exhaust memory or time
# before any check downstream could name it.
MAX_IMAGES = 10_000_000  # images of a split, a subset or a class
MAX_EPOCHS = 100_000
MAX_COUNT = 1_000_000  # configurations, trainings, trials
MAX_INPUT_SIZE = 1024  # pixels a side
MAX_BATCH = 8192
MAX_LAYERS = 10_000
MAX_LEARNING_RATE = 10.0
MAX_CACHE_MB = 10_000_000
MAX_PROFILE_BYTES = 1_000_000
Images = Annotated[int, Field(ge=1, le=MAX_IMAGES)]
Epochs = Annotated[int, Field(ge=1, le=MAX_EPOCHS)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
InputSize = Annotated[int, Field(ge=1, le=MAX_INPUT_SIZE)]
BatchSize = Annotated[int, Field(ge=1, le=MAX_BATCH)]
Layers = Annotated[int, Field(ge=0, le=MAX_LAYERS)]
LearningRate = Annotated[float, Field(gt=0, le=MAX_LEARNING_RATE)]
ClassIndex = Annotated[int, Field(ge=0, le=MAX_IMAGES)]
CacheMb = Annotated[int, Field(ge=0, le=MAX_CACHE_MB)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _creatable(key: str, path: str) -> None:
    """A folder that exists or can be made: its nearest existing ancestor is a folder."""
    if not path or "\0" in path:
        raise ValueError(f"{key}: {path!r} is not a path")
    for ancestor in (Path(path), *Path(path).parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ValueError(f"{key}: {path!r} cannot be a folder: {str(ancestor)!r} is a file")
            return


def _distinct(name: str, values: list) -> None:
    if not values:
        raise ValueError(f"{name} must list at least one value")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} lists a value twice: {values}")


FILE_FORMATS = ("image_folder", "mio_tcd", "stanford_dogs")  # stored as image files: their size is a choice


class DatasetSpec(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]+$")]
    format: str
    path: str | None = None
    classes: list[ClassIndex] | None = None  # keep these original classes, relabelled 0..n-1
    train: Images
    val: Images
    test_per_class: Images
    image_size: InputSize | None = None  # the side images of FILE_FORMATS are stored at (required: image_folder)
    skip_unreadable: bool = False  # image_folder: leave out images that cannot be decoded (listed in the manifest)

    NEW_KEYS: ClassVar[dict] = {"image_size": None, "skip_unreadable": False}  # left out of checksums at default

    @model_validator(mode="after")
    def _classes(self):
        if self.classes is not None:
            _distinct("classes", self.classes)
        if self.format == "image_folder" and self.image_size is None:
            raise ValueError("image_size: an image_folder dataset needs the side, in pixels, its images are stored at "
                             "(at least the largest input_size of the spaces, to keep their detail)")
        if self.image_size is not None and self.format not in FILE_FORMATS:
            raise ValueError(f"image_size: format {self.format} has images of a fixed size; only "
                             f"{', '.join(FILE_FORMATS)} take image_size")
        if self.skip_unreadable and self.format != "image_folder":
            raise ValueError(f"skip_unreadable: only the image_folder format takes it, not {self.format}")
        return self

    def loader_options(self) -> dict:
        """What the format's loader takes besides the path (hpo.data.base.load)."""
        return {k: v for k, v in (("size", self.image_size), ("skip_unreadable", self.skip_unreadable)) if v}


class DatasetsSpec(_Strict):
    source: DatasetSpec | None = None  # pretraining task of the compact backbone
    targets: Annotated[list[DatasetSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self):
        _distinct("targets' names", [t.name for t in self.targets])
        return self


class PretrainSpec(_Strict):
    epochs: Epochs
    learning_rate: LearningRate
    batch_size: BatchSize
    input_size: InputSize


class BackboneSpec(_Strict):
    name: str  # compact, xception or one of KERAS_APPLICATIONS
    # xception and keras.applications: imagenet | none | a file path; compact: pretrained (by `prepare`) | none
    weights: Annotated[str, Field(min_length=1)] = "none"
    pretrain: PretrainSpec | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in BACKBONE_LAYERS:
            raise ValueError(f"unknown backbone {name!r}: choose compact, xception or a keras.applications CNN "
                             f"({', '.join(KERAS_APPLICATIONS)})")
        return name

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
    low: FiniteFloat
    high: FiniteFloat
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
    fine_tuned_layers: list[Layers]
    input_size: list[InputSize]
    batch_size: list[BatchSize]

    @model_validator(mode="after")
    def _values(self):
        if self.learning_rate.low <= 0:
            raise ValueError("learning_rate: low must be positive")
        if self.learning_rate.high > MAX_LEARNING_RATE:
            raise ValueError(f"learning_rate: high must be at most {MAX_LEARNING_RATE:g}")
        if self.dropout.low < 0 or self.dropout.high >= 1:
            raise ValueError("dropout: must lie in [0, 1)")
        for key in ("optimizer", "fine_tuned_layers", "input_size", "batch_size"):
            _distinct(key, getattr(self, key))
        return self


class GridSpec(_Strict):
    learning_rate: list[LearningRate]
    optimizer: list[Optimizer]
    fine_tuned_layers: list[Layers]
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
    epochs: Epochs  # per method
    configurations: Count
    epochs_per_configuration: Epochs
    tpe_startup: Annotated[int, Field(ge=0, le=MAX_COUNT)]

    @model_validator(mode="after")
    def _fits(self):
        if self.tpe_startup > self.configurations:
            raise ValueError(f"tpe_startup ({self.tpe_startup}) exceeds configurations ({self.configurations})")
        if self.configurations * self.epochs_per_configuration > self.epochs:
            raise ValueError(f"configurations x epochs_per_configuration = "
                             f"{self.configurations * self.epochs_per_configuration} exceeds epochs ({self.epochs})")
        return self


class AshaSpec(_Strict):
    r: Epochs  # min epochs
    R: Epochs  # max epochs
    eta: Annotated[int, Field(ge=2, le=1000)]  # reduction factor
    s: Annotated[int, Field(ge=0, le=64)]  # minimum early-stopping rate
    max_trials_at_R: Count  # N_m

    @model_validator(mode="after")
    def _order(self):
        if self.r > self.R:
            raise ValueError(f"r ({self.r}) must not exceed R ({self.R})")
        first = self.r
        for _ in range(self.s):  # r * eta^s, compared as it grows: never a huge power
            first *= self.eta
            if first > self.R:
                raise ValueError(f"s ({self.s}): the first rung r * eta^s exceeds R ({self.R})")
        return self


class ImportanceSpec(_Strict):
    trainings: Count
    epochs: Epochs


class RecordSpec(_Strict):
    """`hpo record`'s design: every grid point plus `random_points` configurations drawn from the
    applied space (`design`: at random, or the first points of a scrambled Sobol sequence, which
    cover it evenly), and the grid points again with other training seeds until each has
    `grid_seeds` trainings; each trained to the longest epoch count a method uses."""
    random_points: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 16
    design: Literal["random", "sobol"] = "random"
    grid_seeds: Annotated[int, Field(ge=1, le=100)] = 1


AUGMENTATIONS = ("rotation", "zoom", "vertical_flip")  # Study III's offline augmentations (hpo/data/augment.py)


class WholeSetSpec(_Strict):
    """Study III's whole (imbalanced) training set, drawn from the target's images outside its test set."""
    train: Images
    val: Images
    # per-class shares of the whole set (classes in the target's order): the imbalance it is built
    # with; absent, the whole set keeps the dataset's own class proportions
    class_fractions: list[Annotated[float, Field(gt=0, le=1)]] | None = None

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
    train: Images  # training images of each subset
    val: Images  # validation images of each subset
    # offline augmentation of the imbalanced subset's training images: one altered copy per entry
    augmentations: list[Literal[AUGMENTATIONS]] = list(AUGMENTATIONS)
    max_trials_at_R: Count = 2  # ASHA's N_m in Study III (Section 3.3); the rest of ASHA as in `asha`

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
    memory_mb: CacheMb = 1024
    disk_mb: CacheMb = 0
    dir: str = ".hpo-cache"

    @model_validator(mode="after")
    def _dir_can_exist(self):
        _creatable("dir", self.dir)
        return self


class Profile(_Strict):
    # a folder name part (prepared/<name>-seed<seed>): no separators, no "..", nothing hidden
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")]
    description: Annotated[str, Field(max_length=10_000)] = ""
    datasets: DatasetsSpec
    backbone: BackboneSpec
    space: Spaces
    budget: BudgetSpec
    asha: AshaSpec
    importance: ImportanceSpec
    subset: SubsetSpec | None = None  # Study III; `prepare` builds its subsets when present
    record: RecordSpec = RecordSpec()
    cache: CacheSpec = CacheSpec()
    # A method's own settings (hpo/search/registry.py), or false: the method is left out of this profile
    methods: dict[str, dict | Literal[False]] = {}
    source_file: str = ""  # set by load_profile
    checksum: str = ""  # sha256 of the YAML text, set by load_profile

    @property
    def prepare_checksum(self) -> str:
        """sha256 of what `prepare` reads (the datasets, the backbone and the subsets of Study III):
        a prepared folder stays valid while only the search space, budgets or study settings change."""
        sections = self.model_dump(mode="json", include={"name", "datasets", "backbone"})
        for spec in [sections["datasets"]["source"], *sections["datasets"]["targets"]]:
            for key, default in DatasetSpec.NEW_KEYS.items():  # at their defaults, checksums stay as they were
                if spec is not None and spec.get(key) == default:
                    del spec[key]
        if self.subset is not None:  # absent, the checksum is what it was before Study III existed
            sections["subset"] = self.subset.model_dump(mode="json", exclude=set(SubsetSpec.STUDY_ONLY))
        return hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()

    @model_validator(mode="after")
    def _method_settings(self):
        """Each section of `methods` names a registered method and holds settings it accepts."""
        from hpo.search import registry

        for name, section in self.methods.items():
            entry = registry.registry().get(name)
            if entry is None:
                raise ValueError(f"methods.{name}: no registered method of that name: choose from "
                                 f"{', '.join(registry.names())}")
            if section is False:
                continue
            if entry.settings is None:
                if section:
                    raise ValueError(f"methods.{name}: {name} takes no settings here (its own sections of the "
                                     "profile set it): give {} or false")
                continue
            try:
                entry.settings.model_validate(section)
            except ValidationError as e:
                raise ValueError(f"methods.{name}.{_describe(e.errors()[0])}") from None
        return self

    @model_validator(mode="after")
    def _consistent(self):
        if self.backbone.name == "compact" and self.backbone.weights == "pretrained" and self.datasets.source is None:
            raise ValueError("datasets.source: a pretrained compact backbone needs a source dataset")
        self._fits_backbone()
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

    def _fits_backbone(self) -> None:
        """Every space and the grid within the backbone's layers and above its smallest input, so
        that no stage accepts what another would fail on."""
        name = self.backbone.name
        layers, smallest = BACKBONE_LAYERS[name], MIN_INPUT_SIZE[name]
        for section, spec in (("initial", self.space.initial), ("applied", self.space.applied),
                              ("grid", self.space.grid)):
            too_deep = [k for k in spec.fine_tuned_layers if k > layers]
            if too_deep:
                raise ValueError(f"space.{section}: fine_tuned_layers {too_deep} exceed the {name} backbone "
                                 f"({layers} layers)")
            small = [size for size in getattr(spec, "input_size", []) if size < smallest]
            if small:
                raise ValueError(f"space.{section}: input_size {small} is below the {name} minimum of {smallest}")
        if self.backbone.pretrain is not None and self.backbone.pretrain.input_size < smallest:
            raise ValueError(f"backbone: pretrain.input_size {self.backbone.pretrain.input_size} is below the {name} "
                             f"minimum of {smallest}")

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
    """PyYAML's safe loader, stricter: a profile has no anchors or aliases (a few nested aliases
    expand to gigabytes) and no key twice (the later one would win unannounced). And it reads
    1e-5 as a float (YAML 1.1 wants 1.0e-5)."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(None, None, "anchors and aliases (&name, *name) are not allowed in a "
                                              "profile: write the values out", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one mapping",
                                                        key_node.start_mark)
            if isinstance(key, str) or isinstance(key, int):
                seen.add(key)
        return super().construct_mapping(node, deep)


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
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_PROFILE_BYTES + 1)
    except OSError as e:
        raise UserError(f"profile {path} cannot be read ({e.strerror})") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise UserError(f"profile {path} is larger than {MAX_PROFILE_BYTES // 1000} kB: is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"profile {path} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None
    return parse_profile(text, source=str(path))
