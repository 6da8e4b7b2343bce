"""Folders of real image files, one subfolder per class, for the image_folder format's tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

MODES = ("RGB", "L", "RGBA", "P")
SIZES = ((40, 30), (17, 23), (64, 64), (9, 50))


def image(rng, mode: str, size: tuple[int, int]) -> Image.Image:
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return rgb.convert(mode) if mode != "P" else rgb.convert("P", palette=Image.Palette.ADAPTIVE)


def jpeg_bytes(rng, size=(32, 32)) -> bytes:
    buffer = io.BytesIO()
    image(rng, "RGB", size).save(buffer, "JPEG")
    return buffer.getvalue()


def make_tree(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """`per_class` images in each class folder: PNG, JPEG, BMP and GIF in turn, of mixed sizes and
    modes; every third one in a nested folder of its class; a text file in each class folder and
    one at the top, which are not images."""
    rng = np.random.default_rng(seed)
    formats = (("png", "PNG"), ("jpg", "JPEG"), ("bmp", "BMP"), ("gif", "GIF"))
    for name, n in per_class.items():
        folder = root / name
        (folder / "nested").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            ext, kind = formats[i % len(formats)]
            mode = MODES[i % len(MODES)]
            if kind == "JPEG" and mode in ("RGBA", "P"):
                mode = "L"  # JPEG has no alpha or palette
            place = folder / "nested" if i % 3 == 2 else folder
            image(rng, mode, SIZES[i % len(SIZES)]).save(place / f"{name}_{i:03d}.{ext}", kind)
        (folder / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("labels are folder names")
    return root
