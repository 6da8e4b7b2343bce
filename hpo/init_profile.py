"""`hpo init FOLDER`: a profile for a user's folder of class subfolders, to start from.

It lists the classes and their images, proposes split sizes (a balanced test set of a fifth of
the smallest class, at most 200 per class; a fifth of the rest to validate), names the backbone,
scales the paper's search spaces to it (its input size, and the paper's k = 9, 14, 18 of
Xception's 132 layers in proportion to the backbone's depth) and takes the embedded profile's
budgets. Images whose header cannot be read are not counted, and the profile skips them. What
it writes is parsed as a profile first, so it is always a valid one.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import numpy as np

from hpo.backbone_catalogue import BACKBONE_LAYERS, KERAS_APPLICATIONS, MIN_INPUT_SIZE
from hpo.data.image_folder import header_problem, list_folder
from hpo.errors import UserError
from hpo.profiles import parse_profile
from hpo.studies.writable import check_file

PAPER_LAYERS, PAPER_K = 132, (9, 14, 18)  # Xception's layers and the paper's "last k layers"
MAX_TEST_PER_CLASS = 200
DEFAULT_INPUT_SIZE = 96


def scaled_layers(layers: int) -> list[int]:
    """The paper's k = 9, 14, 18 of 132 layers in proportion to `layers`, then all of them."""
    return sorted({max(1, round(k * layers / PAPER_LAYERS)) for k in PAPER_K} | {layers})


def split_sizes(counts: np.ndarray, class_names: tuple[str, ...]) -> tuple[int, int, int]:
    """(train, val, test_per_class) for classes of these sizes."""
    smallest = int(counts.min())
    if smallest < 3:
        name = class_names[int(counts.argmin())]
        raise UserError(f"class {name!r} has {smallest} image(s): a study needs at least 3 per class (to test, train "
                        "and validate); add images")
    test = min(max(1, smallest // 5), MAX_TEST_PER_CLASS)
    rest = int(counts.sum()) - test * len(counts)
    val = max(len(counts), round(rest / 5))
    return rest - val, val, test


def _name(folder: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", folder.resolve().name).strip("_-") or "mine"
    return name[:64]


def profile_text(folder: Path, name: str, backbone: str, weights: str, input_size: int) -> str:
    listing = list_folder(str(folder))
    readable = np.array([header_problem(f) is None for f in listing.files], dtype=bool)
    unreadable = int((~readable).sum())
    counts = np.bincount(listing.labels[readable], minlength=len(listing.class_names))
    train, val, test = split_sizes(counts, listing.class_names)
    layers = BACKBONE_LAYERS[backbone]
    k = scaled_layers(layers)
    sizes = sorted({max(MIN_INPUT_SIZE[backbone], s) for s in (input_size // 2, 3 * input_size // 4, input_size)})
    found = ", ".join(f"{c} {n}" for c, n in zip(listing.class_names, counts.tolist(), strict=True))
    skip = (f"      skip_unreadable: true   # {unreadable} file(s) could not be read: left out, and listed in the "
            "manifest by prepare\n") if unreadable else ""
    return f"""\
# Written by `hpo init`: a starting point, edit freely.
# Found {len(counts)} classes ({found[:500]}) and {len(listing.ignored)} file(s) that are not images.
name: {name}
description: {json.dumps(f'{backbone} fine-tuned on the images of {folder.name}')}

datasets:
  targets:
    - name: {name}
      format: image_folder
      path: {json.dumps(str(folder.resolve()))}
      image_size: {input_size}       # the side images are stored at in the prepared splits
      train: {train}
      val: {val}
      test_per_class: {test}       # a balanced test set: {test * len(counts)} images
{skip}
backbone:
  name: {backbone}
  weights: {json.dumps(weights)}           # imagenet (Keras' cache), none (random) or the path of a weights file

space:
  initial:            # Table 2A, scaled: input sizes up to {input_size} px
    learning_rate: {{low: 1.0e-5, high: 0.1, log: true}}
    dropout: {{low: 0.01, high: 0.4}}
    optimizer: [adam, adadelta, rmsprop, sgd]
    # the paper's last 9, 14 and 18 of Xception's 132 layers, in proportion to {backbone}'s {layers}; 0 trains
    # the head alone, {layers} the whole network
    fine_tuned_layers: {[0, *k]}
    input_size: {sizes}
    batch_size: [16, 32, 64]
  applied:            # Table 2B, scaled
    learning_rate: {{low: 1.0e-4, high: 0.03, log: true}}
    dropout: {{low: 0.01, high: 0.4}}
    optimizer: [adam, adadelta, rmsprop, sgd]
    fine_tuned_layers: {k}
    input_size: [{input_size}]
    batch_size: [32]
  grid:               # Section 3.2: 2 x 2 x {len(k)} x 1 = {4 * len(k)} points
    learning_rate: [0.001, 0.01]
    optimizer: [adam, rmsprop]
    fine_tuned_layers: {k}
    dropout: [0.2]

budget:               # the embedded profile's: epochs per method
  epochs: 400
  configurations: 16
  epochs_per_configuration: 25
  tpe_startup: 4

asha:
  r: 1
  R: 16
  eta: 4
  s: 0
  max_trials_at_R: 4

importance:
  trainings: 20
  epochs: 10
"""


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")  # profiles.Profile.name's pattern
WORDS = ("imagenet", "none")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # Keras' .h5 and .weights.h5 files
ZIP_SIGNATURE = b"PK\x03\x04"  # a .keras file


def _weights(weights: str, backbone: str) -> str:
    """imagenet, none, or the absolute path of a file that holds Keras weights."""
    if weights in WORDS:
        return weights
    path = Path(weights)
    if not path.is_file():
        close = difflib.get_close_matches(weights.lower(), WORDS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UserError(f"--weights {weights!r}: no such file; {hint}give imagenet, none or the path of {backbone}'s "
                        "weights without its top (.h5)")
    try:
        with open(path, "rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
    except OSError as e:
        raise UserError(f"--weights {weights}: cannot be read ({e.strerror}): give a weights file you can read") \
            from None
    if not head.startswith((HDF5_SIGNATURE, ZIP_SIGNATURE)):
        raise UserError(f"--weights {weights} is not a Keras weights file (neither HDF5 nor .keras): give the path of "
                        f"{backbone}'s weights without its top (.h5)")
    return str(path.resolve())


def init_profile(folder: str, out: str | None = None, name: str | None = None, backbone: str = "MobileNetV2",
                 weights: str = "imagenet", input_size: int = DEFAULT_INPUT_SIZE, force: bool = False) -> Path:
    """Write the profile for `folder` to `out` (default: NAME.yaml here); returns its path."""
    if backbone not in KERAS_APPLICATIONS and backbone != "xception":
        raise UserError(f"--backbone {backbone!r}: choose xception or a keras.applications CNN "
                        f"({', '.join(KERAS_APPLICATIONS)})")
    if input_size < MIN_INPUT_SIZE[backbone]:
        raise UserError(f"--input-size {input_size} is below the {backbone} minimum of {MIN_INPUT_SIZE[backbone]}")
    root = Path(folder)
    if name is None:
        name = _name(root)
    elif not NAME.match(name):
        raise UserError(f"--name {name!r}: give 1 to 64 letters, digits, _ or -, starting with a letter or digit "
                        "(or leave it out for the folder's name)")
    weights = _weights(weights, backbone)
    path = Path(out or f"{name}.yaml")
    if path.exists() and not force:
        raise UserError(f"{path} exists: give another --out, or --force to replace it")
    check_file(path, "the profile", "give another --out")
    text = profile_text(root, name, backbone, weights, input_size)
    parse_profile(text, str(path))  # what it writes, the loader takes
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
