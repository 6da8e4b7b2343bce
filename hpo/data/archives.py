"""The datasets' original files as distributed: tar archives, extracted safely once into a
folder next to the archive, and folders of JPEGs, decoded into one uint8 RGB array."""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from hpo.errors import UserError

MARKER = ".complete"  # written last: a folder without it is not a finished extraction


def extracted_dir(archive: Path) -> Path:
    return archive.with_name(archive.name + ".extracted")


def _stamp(archive: Path) -> str:
    # Size and mtime of the archive extracted: a re-downloaded archive is extracted again.
    st = archive.stat()
    return f"{st.st_size} {st.st_mtime_ns}\n"


def extract(archive: str | Path, home: str) -> Path:
    """The folder `<archive>.extracted/` holding the archive's contents, extracted on first use.

    `home` is the dataset's home page, named in the error messages. Members that would land
    outside the folder (absolute paths, `..`, links out, devices) are refused by tarfile's
    "data" filter; a missing, truncated or corrupt archive is a UserError."""
    archive = Path(archive)
    if not archive.is_file():
        raise UserError(f"{archive} not found: download it from {home}")
    dest = extracted_dir(archive)
    marker = dest / MARKER
    if marker.is_file() and marker.read_text() == _stamp(archive):
        return dest
    # Extract into a temporary sibling and rename it: an interrupted or refused extraction
    # leaves nothing that looks finished, and concurrent loaders never see a half folder.
    try:
        tmp = Path(tempfile.mkdtemp(prefix=archive.name + ".partial-", dir=archive.parent))
    except OSError as e:
        raise UserError(f"cannot extract {archive} next to it ({e}): make {archive.parent} writable") from None
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(tmp, filter="data")
        (tmp / MARKER).write_text(_stamp(archive))
        if dest.exists():
            shutil.rmtree(dest)  # stale: from an older copy of the archive
        os.rename(tmp, dest)
    except tarfile.FilterError as e:
        raise UserError(f"{archive}: member {e.tarinfo.name!r} refused ({e}); this is not the original "
                        f"archive: download it again from {home}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise UserError(f"{archive} is corrupt or truncated ({e}): download it again from {home}") from None
    except OSError as e:
        if (dest / MARKER).is_file():  # another process finished the same extraction first
            return dest
        raise UserError(f"cannot extract {archive} into {dest} ({e}): free space or fix permissions, "
                        f"or extract it yourself and give the folder") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def dataset_folder(path: str | None, dataset: str, home: str, download: str, source: str, inner: str,
                   holds: Callable[[Path], bool], contents: str) -> Path:
    """The folder of a dataset's files: `path` or its subfolder `inner`, the first where `holds`;
    an archive at `path` is extracted first. `download` is the file or folder to get from `home`,
    `source` how to give it in the profile, `contents` what the folder must hold (for the errors)."""
    if not path:
        raise UserError(f"{dataset} needs a path: give {source} (from {home}) in the profile")
    given = Path(path)
    if given.is_file():
        given = extract(given, home)
    for folder in (given, given / inner):
        if holds(folder):
            return folder
    if not given.exists():
        raise UserError(f"{given} not found: download {download} from {home} and give its path")
    raise UserError(f"no {contents} in {given}: give {source} from {home}")


def redownload(home: str) -> str:
    """What to do about a damaged file of a dataset downloaded from `home`."""
    return f"download the dataset again from {home}"


def read_image(path: Path, size: int, fix: str) -> np.ndarray:
    """One image file -> uint8 (size, size, 3): any mode (grey, CMYK, RGBA, palette) to RGB,
    stretched to a square like the network input (the aspect ratio is not kept). A file that
    cannot be decoded is a UserError naming it and what to do (`fix`)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UserError(f"{path} is not a readable image ({e}): {fix}") from None


def read_images(paths: Sequence[Path], size: int, fix: str, chunk: int = 1024) -> np.ndarray:
    """Image files -> uint8 (N, size, size, 3), in order. Decoded in threads (Pillow releases
    the GIL while decoding and resizing), a chunk at a time to bound the results in flight."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for start in range(0, len(paths), chunk):
            batch = paths[start:start + chunk]
            for i, image in enumerate(pool.map(lambda p: read_image(p, size, fix), batch)):
                out[start + i] = image
    return out
