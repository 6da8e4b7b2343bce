import pytest

from hpo.errors import UserError
from hpo.profiles import available_profiles, load_profile, parse_profile, PROFILES_DIR


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
    ("      train: 1000             # small, as fine-tuning sets are: pretraining pays off visibly", "", r"datasets\.targets\.0\.train: required key is missing"),
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
