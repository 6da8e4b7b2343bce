"""Keras' cache of downloaded ImageNet weights (KERAS_HOME/models), read without importing Keras:
`hpo init` says whether the weights a profile asks for are there before any stage needs them."""

from __future__ import annotations

import os
import re
from pathlib import Path


def keras_weights_cache() -> Path:
    """Where keras.applications looks for downloaded weights (honours KERAS_HOME)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def cached_notop_weights(backbone: str) -> list[Path]:
    """Files of the cache that look like `backbone`'s weights without its top. Keras names them
    after the network (mobilenet_v2_..._no_top.h5, inception_v3_..._notop.h5, efficientnetb0_notop.h5)."""
    folder = keras_weights_cache()
    if not folder.is_dir():
        return []
    name = _plain(backbone)
    return sorted(f for f in folder.iterdir() if f.is_file() and _plain(f.name).startswith(name)
                  and "notop" in _plain(f.name))


def missing_weights_note(backbone: str) -> str | None:
    """What to do when `backbone`'s ImageNet weights are not in Keras' cache; None when they are."""
    if cached_notop_weights(backbone):
        return None
    network = "Xception" if backbone == "xception" else backbone
    return (f"note: {network}'s ImageNet weights are not in Keras' cache ({keras_weights_cache()}), and `hpo prepare` "
            f"cannot download them without a network: on a machine with one, run\n"
            f"  python -c 'import keras; keras.applications.{network}(include_top=False)'\n"
            f"and copy the file it writes to {keras_weights_cache()} here, or give --weights FILE or --weights none")
