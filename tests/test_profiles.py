import pytest

from hpo.errors import UserError
from hpo.profiles import PROFILES_DIR, available_profiles, load_profile, parse_profile


def test_the_three_profiles_load():
    assert {"embedded", "smoke", "paper"} <= set(available_profiles())
    for name in ("embedded", "smoke", "paper"):
        profile = load_profile(name)
        assert profile.name == name and len(profile.checksum) == 64


def test_prepared_data_depends_on_datasets_and_backbone_only():
    text = (PROFILES_DIR / "smoke.yaml").read_text()
    smoke = parse_profile(text)
    assert parse_profile(text.replace("trainings: 6", "trainings: 7")).prepare_checksum == smoke.prepare_checksum
    assert parse_profile(text.replace("train: 200", "train: 201", 1)).prepare_checksum != smoke.prepare_checksum
    assert parse_profile(text.replace("epochs: 1\n", "epochs: 2\n", 1)).prepare_checksum != smoke.prepare_checksum


def test_paper_profile_is_the_protocol():
    p = load_profile("paper")
    assert (p.budget.epochs, p.budget.configurations, p.budget.epochs_per_configuration, p.budget.tpe_startup) == \
        (400, 16, 25, 4)
    assert (p.asha.r, p.asha.R, p.asha.eta, p.asha.s, p.asha.max_trials_at_R) == (1, 16, 4, 0, 4)
    assert p.backbone.name == "xception" and p.backbone.weights == "imagenet"
    assert p.importance.trainings == 20


def test_unknown_profile_names_the_choices():
    with pytest.raises(UserError, match="unknown profile 'nope'.*embedded"):
        load_profile("nope")


def _broken(old: str, new: str) -> str:
    text = (PROFILES_DIR / "embedded.yaml").read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize("old,new,message", [
    ("  eta: 4", "  eta: 4\n  colour: red", r"asha\.colour: unknown key"),
    ("  eta: 4", "  eta: 1", r"asha\.eta: .*greater than or equal to 2"),
    ("  r: 1", "  r: 20", r"asha: r \(20\) must not exceed R \(16\)"),
    ("  epochs: 400", "  epochs: 0", r"budget\.epochs: .*greater than or equal to 1"),
    ("  epochs: 400", "  epochs: lots", r"budget\.epochs: .*valid integer"),
    ("learning_rate: {low: 1.0e-5, high: 0.1, log: true}", "learning_rate: {low: 0.1, high: 1.0e-5, log: true}",
     r"space\.initial\.learning_rate: low \(0\.1\) must be below high"),
    ("dropout: {low: 0.01, high: 0.4}", "dropout: {low: 0.01, high: 1.5}", r"space\.initial: dropout: must lie in"),
    ("optimizer: [adam, adadelta, rmsprop, sgd]", "optimizer: [adam, nesterov]", r"space\.initial\.optimizer\.1"),
    ("      train: 1000             # small, as fine-tuning sets are: pretraining pays off visibly", "",
     r"datasets\.targets\.0\.train: required key is missing"),
    ("  tpe_startup: 4", "  tpe_startup: 40", r"budget: tpe_startup \(40\) exceeds configurations"),
])
def test_malformed_profile_gives_one_line_naming_the_key(old, new, message):
    with pytest.raises(UserError, match=message) as e:
        parse_profile(_broken(old, new), "broken.yaml")
    assert "\n" not in str(e.value) and str(e.value).startswith("profile broken.yaml: ")


def test_invalid_yaml_and_non_mapping():
    with pytest.raises(UserError, match="not valid YAML at line"):
        parse_profile("name: [unclosed\n", "x.yaml")
    with pytest.raises(UserError, match="must be a mapping"):
        parse_profile("- just\n- a list\n", "x.yaml")


def test_scientific_notation_is_a_float():
    p = load_profile("paper")
    assert p.space.initial.learning_rate.low == 1e-5 and p.space.initial.learning_rate.log


def test_missing_profile_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_profile(str(tmp_path / "nope.yaml"))


def test_subset_section_of_the_profiles():
    paper = load_profile("paper").subset
    assert (paper.dataset, paper.train, paper.val, paper.max_trials_at_R) == ("mio_tcd", 11000, 2750, 2)
    assert (paper.whole.train, paper.whole.val, paper.whole.class_fractions) == (410931, 102733, None)
    assert paper.augmentations == ["rotation", "zoom", "vertical_flip"]
    smoke = load_profile("smoke").subset
    assert smoke.dataset == "fashion" and sum(smoke.whole.class_fractions) == pytest.approx(1)


def test_prepared_data_depends_on_the_subsets_but_not_on_asha_settings():
    import hashlib
    import json

    text = (PROFILES_DIR / "smoke.yaml").read_text()
    smoke = parse_profile(text)
    assert parse_profile(text.replace("max_trials_at_R: 2", "max_trials_at_R: 3")).prepare_checksum == \
        smoke.prepare_checksum
    assert parse_profile(text.replace("  train: 80 ", "  train: 60 ")).prepare_checksum != smoke.prepare_checksum
    # without a subset section the checksum is what it was before the section existed
    bare = parse_profile(text[:text.index("\nsubset:")])
    sections = bare.model_dump(mode="json", include={"name", "datasets", "backbone"})
    for spec in [sections["datasets"]["source"], *sections["datasets"]["targets"]]:
        del spec["image_size"], spec["skip_unreadable"]  # nor do these keys, at their defaults
    assert bare.prepare_checksum == hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("old,new,message", [
    ("  dataset: fashion", "  dataset: shoes", r"^profile broken\.yaml: subset\.dataset: 'shoes' is not a target "
                                                r"of this profile: choose one of fashion, digits$"),
    ("[0.5, 0.25, 0.125, 0.075, 0.05]", "[0.5, 0.25, 0.125, 0.125]",
     r"subset\.whole\.class_fractions: 4 fractions for the 5 classes of fashion"),
    ("[0.5, 0.25, 0.125, 0.075, 0.05]", "[0.5, 0.25, 0.125, 0.075, 0.5]",
     r"subset\.whole: class_fractions: must sum to 1, not 1\.45"),
    ("[0.5, 0.25, 0.125, 0.075, 0.05]", "[-0.5, 0.25]", r"subset\.whole\.class_fractions\.0: .*greater than 0"),
    ("[rotation, zoom, vertical_flip]", "[rotation, shear]", r"subset\.augmentations\.1: .*'vertical_flip'"),
    ("[rotation, zoom, vertical_flip]", "[zoom, zoom]", r"subset: augmentations lists a value twice"),
    ("  train: 80 ", "  train: 800 ", r"subset: train \+ val \(820\) exceed the whole set \(500\)"),
    ("  max_trials_at_R: 2", "  max_trials_at_R: 0", r"subset\.max_trials_at_R: .*greater than or equal to 1"),
    ("  max_trials_at_R: 2", "  max_trials_at_R: 2\n  colour: red", r"subset\.colour: unknown key"),
    ("    val: 100\n    class_fractions", "    class_fractions", r"subset\.whole\.val: required key is missing"),
])
def test_malformed_subset_section_gives_one_line_naming_the_key(old, new, message):
    text = (PROFILES_DIR / "smoke.yaml").read_text()
    assert old in text
    with pytest.raises(UserError, match=message) as e:
        parse_profile(text.replace(old, new, 1), "broken.yaml")
    assert "\n" not in str(e.value) and str(e.value).startswith("profile broken.yaml: ")
