import pytest

from hpo.errors import UserError
from hpo.training import TrialConfig

GOOD = dict(learning_rate=0.001, dropout=0.2, optimizer="adam", fine_tuned_layers=9, input_size=32, batch_size=32)


@pytest.mark.parametrize("change,message", [
    ({"optimizer": "nesterov"}, "unknown optimizer 'nesterov': use one of adam, adadelta, rmsprop, sgd"),
    ({"learning_rate": 0.0}, "learning_rate must be a positive number"),
    ({"learning_rate": -1e-3}, "learning_rate must be a positive number"),
    ({"learning_rate": float("nan")}, "learning_rate must be a positive number"),
    ({"dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
    ({"dropout": -0.1}, r"dropout must lie in \[0, 1\)"),
    ({"fine_tuned_layers": -1}, "fine_tuned_layers must be an integer from 0 to 10000"),
    ({"batch_size": 0}, "batch_size must be an integer from 1 to 8192"),
    ({"input_size": 32.5}, "input_size must be an integer from 1 to 1024"),
    ({"input_size": 100000}, "input_size must be an integer from 1 to 1024"),
    ({"learning_rate": float("inf")}, "learning_rate must be a positive number"),
])
def test_bad_hyperparameters_are_refused_with_one_line(change, message):
    with pytest.raises(UserError, match=message) as e:
        TrialConfig(**{**GOOD, **change})
    assert "\n" not in str(e.value)


def test_from_dict_names_unknown_and_missing_keys():
    with pytest.raises(UserError, match=r"unknown \['momentum'\], missing \['dropout'\]"):
        TrialConfig.from_dict({**{k: v for k, v in GOOD.items() if k != "dropout"}, "momentum": 0.9})
    assert TrialConfig.from_dict(GOOD).as_dict() == GOOD
