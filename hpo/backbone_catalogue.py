"""What each backbone is, without building it or importing Keras: the keras.applications CNNs a
profile can name, their layers, smallest input and input scaling, and Keras' cache of their
ImageNet weights (`hpo init` says whether the weights a profile asks for are there)."""

from __future__ import annotations

import os
import re
from pathlib import Path

# The keras.applications CNNs a profile can name as its backbone (without their top, on inputs of
# any size): the keras.applications module whose preprocess_input scales their input, their
# layers and their smallest input size (Keras' own minimum). tests/models/test_applications.py
# checks every entry against Keras. (NASNet needs a fixed input size with ImageNet weights, and
# Keras' Xception is the backbone `xception`.) Written by (module, smallest input): {name: layers}.
_APPLICATIONS_BY_MODULE = {
    ("resnet", 32): {"ResNet50": 175, "ResNet101": 345, "ResNet152": 515},
    ("resnet_v2", 32): {"ResNet50V2": 190, "ResNet101V2": 377, "ResNet152V2": 564},
    ("mobilenet", 32): {"MobileNet": 86},
    ("mobilenet_v2", 32): {"MobileNetV2": 154},
    ("mobilenet_v3", 32): {"MobileNetV3Small": 157, "MobileNetV3Large": 187},
    ("efficientnet", 32): {"EfficientNetB0": 237, "EfficientNetB1": 339, "EfficientNetB2": 339, "EfficientNetB3": 384,
                           "EfficientNetB4": 474, "EfficientNetB5": 576, "EfficientNetB6": 666, "EfficientNetB7": 813},
    ("efficientnet_v2", 32): {"EfficientNetV2B0": 270, "EfficientNetV2B1": 334, "EfficientNetV2B2": 349,
                              "EfficientNetV2B3": 409, "EfficientNetV2S": 513, "EfficientNetV2M": 740,
                              "EfficientNetV2L": 1028},
    ("densenet", 32): {"DenseNet121": 427, "DenseNet169": 595, "DenseNet201": 707},
    ("inception_v3", 75): {"InceptionV3": 311},
    ("inception_resnet_v2", 75): {"InceptionResNetV2": 780},
    ("vgg16", 32): {"VGG16": 19},
    ("vgg19", 32): {"VGG19": 22},
    ("convnext", 32): {"ConvNeXtTiny": 133, "ConvNeXtSmall": 259, "ConvNeXtBase": 259, "ConvNeXtLarge": 259,
                       "ConvNeXtXLarge": 259},
}
KERAS_APPLICATIONS = {name: (module, layers, smallest) for (module, smallest), names in _APPLICATIONS_BY_MODULE.items()
                      for name, layers in names.items()}
# What each backbone is, as far as a profile can be checked against it without building it:
# its layers (k counts from the top of these), its smallest input size, and how its input is
# scaled (the keras.applications module of its preprocess_input; compact is scaled as Xception).
BACKBONE_LAYERS = {"compact": 42, "xception": 132} | {n: a[1] for n, a in KERAS_APPLICATIONS.items()}
MIN_INPUT_SIZE = {"compact": 32, "xception": 71} | {n: a[2] for n, a in KERAS_APPLICATIONS.items()}
INPUT_SCALING = {"compact": "xception", "xception": "xception"} | {n: a[0] for n, a in KERAS_APPLICATIONS.items()}


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
