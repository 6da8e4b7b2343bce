"""keras.applications CNNs as backbones: the profile's table of them agrees with Keras, their
weights load from a file, and their input is scaled by their own preprocess_input."""

import keras
import numpy as np
import pytest

from hpo.backbone_catalogue import KERAS_APPLICATIONS
from hpo.data.images import resize, to_network_input
from hpo.errors import UserError
from hpo.models.backbones import application, backbone_factory, input_scaling, min_input_size
from hpo.profiles import BackboneSpec, load_profile, parse_profile


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KERAS_APPLICATIONS))
def test_every_listed_application_has_its_layers_and_runs_at_its_minimum_input(name):
    module, layers, smallest = KERAS_APPLICATIONS[name]
    model = application(name, None)
    assert len(model.layers) == layers
    assert callable(getattr(keras.applications, module).preprocess_input)
    out = model(np.zeros((1, smallest, smallest, 3), dtype="float32"))
    assert out.shape[0] == 1 and min(out.shape[1:3]) >= 1
    keras.backend.clear_session()


def test_the_input_is_scaled_by_the_backbones_own_preprocess_input():
    images = np.random.default_rng(0).integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    assert input_scaling("ResNet50") == "resnet" and input_scaling("compact") == "xception"
    caffe = to_network_input(images, 32, "resnet")  # BGR, ImageNet means subtracted
    assert np.allclose(caffe, keras.applications.resnet.preprocess_input(resize(images, 32)))
    assert np.allclose(to_network_input(images, 32, "efficientnet"), resize(images, 32))  # scales inside the model
    assert to_network_input(images, 32).min() >= -1 and to_network_input(images, 32).max() <= 1


def test_weights_from_a_file_are_those_saved(tmp_path):
    keras.utils.set_random_seed(1)
    original = application("MobileNetV2", None)
    path = tmp_path / "mobilenet_v2_notop.weights.h5"
    original.save_weights(path)
    make = backbone_factory(BackboneSpec(name="MobileNetV2", weights=str(path)), None)
    first, second = make(), make()
    assert first is not second
    for a, b in zip(original.get_weights(), first.get_weights(), strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(UserError, match=r"backbone.weights: no file .*missing.h5"):
        application("MobileNetV2", str(tmp_path / "missing.h5"))
    (tmp_path / "garbage.weights.h5").write_bytes(b"not weights")
    with pytest.raises(UserError, match=r"garbage.weights.h5 is not a weights file of MobileNetV2"):
        application("MobileNetV2", str(tmp_path / "garbage.weights.h5"))


def _smoke_with(backbone: str) -> str:
    text = open(load_profile("smoke").source_file).read()
    start, end = text.index("backbone:"), text.index("\nspace:")
    return text[:start] + backbone + text[end:]


def test_a_profile_names_any_listed_application_and_is_checked_against_it():
    profile = parse_profile(_smoke_with("backbone:\n  name: MobileNetV2\n  weights: none\n"))
    assert profile.backbone.name == "MobileNetV2" and min_input_size("MobileNetV2") == 32
    with pytest.raises(UserError, match=r"backbone.name: unknown backbone 'ResNet9'.*ResNet50, ResNet101"):
        parse_profile(_smoke_with("backbone:\n  name: ResNet9\n"))
    with pytest.raises(UserError, match=r"input_size \[32, 48\] is below the InceptionV3 minimum of 75"):
        parse_profile(_smoke_with("backbone:\n  name: InceptionV3\n"))
    with pytest.raises(UserError, match=r"fine_tuned_layers \[42\] exceed the VGG16 backbone \(19 layers\)"):
        parse_profile(_smoke_with("backbone:\n  name: VGG16\n"))
