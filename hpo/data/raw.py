"""`data/`: the raw inputs of the embedded profile, in one folder that DVC versions (data.dvc).

`python -m hpo.data.raw` fills it from what installs offline: the Fashion-MNIST IDX files,
copied byte for byte from the Debian package (or the Keras cache), and scikit-learn's digits,
written as IDX files too (8x8, values 0..16, as scikit-learn ships them). The files are
byte-identical on every machine, so after filling, `dvc status` finds data.dvc unchanged.
The loaders read `data/` first when it exists (relative to the working directory, where
every stage runs), so the data DVC versions is the data the studies use.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

from hpo.errors import UserError

DATA_DIR = Path("data")
FASHION_DIR = "fashion-mnist"
DIGITS_DIR = "digits"
DIGITS_FILES = ("digits-images-idx3-ubyte", "digits-labels-idx1-ubyte")


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file of unsigned bytes (no timestamp inside: byte-identical rewrites)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.tobytes())


def fill(directory: Path = DATA_DIR) -> list[Path]:
    """Copy Fashion-MNIST and export the digits into `directory`; returns the files written."""
    from sklearn.datasets import load_digits

    from hpo.data.fashion_mnist import FILES, find_files

    directory = Path(directory)
    written = []
    fashion = directory / FASHION_DIR
    fashion.mkdir(parents=True, exist_ok=True)
    for source in find_files(None, exclude=fashion):
        target = fashion / source.name
        shutil.copyfile(source, target)
        written.append(target)
    digits_dir = directory / DIGITS_DIR
    digits_dir.mkdir(parents=True, exist_ok=True)
    bunch = load_digits()
    for name, array in zip(DIGITS_FILES, (bunch.images, bunch.target), strict=True):
        write_idx(digits_dir / name, array)
        written.append(digits_dir / name)
    assert len(written) == 2 * len(FILES) + len(DIGITS_FILES)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    directory = Path(argv[0]) if argv else DATA_DIR
    try:
        files = fill(directory)
    except UserError as e:
        print(f"hpo.data.raw: error: {e}", file=sys.stderr)
        return 2
    print(f"filled {directory}/ with {len(files)} files: " + ", ".join(str(f.relative_to(directory)) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
