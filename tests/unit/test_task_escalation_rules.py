"""The escalation rules file: the shipped file is valid; mistakes are named by file and field."""

from __future__ import annotations

import datetime as dt

import pytest

from careloop.tasks import escalation


def test_shipped_rules_load():
    config = escalation.load_rules()
    assert [s.overdue_hours for s in config.steps] == sorted(s.overdue_hours for s in config.steps)
    assert any(s.notify_supervisor for s in config.steps)
    assert config.check_every > dt.timedelta(0)


def test_valid_text():
    config = escalation.parse_rules("check_every_minutes = 0\n[[step]]\noverdue_hours = 2\n", "mine.toml")
    assert config.steps[0].overdue_hours == 2 and config.steps[0].raise_priority
    assert config.check_every == dt.timedelta(0)


@pytest.mark.parametrize(("text", "expected"), [
    ("[[step]]\noverdue_hours = -1\n", "mine.toml: step[0].overdue_hours: Input should be greater than 0"),
    ("[[step]]\noverdue_hours = 2\nnotify = true\n", "mine.toml: step[0].notify: Extra inputs are not permitted"),
    ("[[step]]\noverdue_hours = 24\n[[step]]\noverdue_hours = 4\n", "strictly increasing overdue_hours"),
    ("check_every_minutes = 5\n", "mine.toml: step: Field required"),
    ("[[step]\n", "mine.toml: TOML syntax"),
])
def test_mistakes_name_file_and_field(text, expected):
    with pytest.raises(escalation.EscalationRulesError) as err:
        escalation.parse_rules(text, "mine.toml")
    assert expected in err.value.message
