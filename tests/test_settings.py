"""Settings from the environment: whole seconds within bounds, a default when unset, one line otherwise."""

import pytest

from hpo import settings
from hpo.errors import UserError


@pytest.mark.parametrize("text, expected", [(None, 7), ("", 7), (" 0 ", 0), ("60", 60)])
def test_seconds_in_bounds_or_the_default(monkeypatch, text, expected):
    if text is None:
        monkeypatch.delenv("HPO_TEST_SECONDS", raising=False)
    else:
        monkeypatch.setenv("HPO_TEST_SECONDS", text)
    assert settings.seconds("HPO_TEST_SECONDS", 7, 60) == expected


@pytest.mark.parametrize("text", ["61", "-1", "1.5", "ten"])
def test_anything_else_is_one_line_naming_the_variable_and_the_fix(monkeypatch, text):
    monkeypatch.setenv("HPO_TEST_SECONDS", text)
    expected = r"^HPO_TEST_SECONDS='.*' is not a number of seconds from 0 to 60: unset it for 7$"
    with pytest.raises(UserError, match=expected):
        settings.seconds("HPO_TEST_SECONDS", 7, 60)
