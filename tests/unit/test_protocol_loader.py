"""Protocol files: every shipped file validates; bad files fail with the file, the line and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from careloop.protocols.loader import ProtocolDefinitionError, find_cycle, load_directory, load_file, parse
from careloop.protocols.registry import SHIPPED, load_registry

GOOD = """\
key: demo
name: Demo protocol
version: "1.0"
triggers:
  - event: patient.enrolled
steps:
  - key: first
    title: First step
    role: coordinator
    due: {offset: 2, unit: business_days}
  - key: second
    title: Second step
    role: [pharmacist, rn_care_manager]
    depends_on: [first]
    due: {offset: 3, unit: days, from: first}
"""


def problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ProtocolDefinitionError) as err:
        parse(textwrap.dedent(text), "org/demo.yaml")
    assert all(p.file == "org/demo.yaml" for p in err.value.problems)
    return [(p.line, p.field, p.message) for p in err.value.problems]


def test_every_shipped_protocol_validates():
    files = sorted(SHIPPED.glob("*.yaml"))
    assert len(files) >= 5
    keys = {load_file(path).key for path in files}
    assert keys >= {"new_patient_intake", "care_plan_development", "specialist_referral", "hospital_discharge",
                    "chronic_condition_follow_up"}


def test_the_good_example_loads():
    protocol = parse(GOOD, "demo.yaml")
    assert [s.key for s in protocol.steps] == ["first", "second"]
    assert protocol.step("second").due.from_ == "first"


def test_wrong_enum_value_names_line_and_field():
    bad = GOOD.replace("unit: days, from: first", "unit: weeks, from: first")
    [(line, field, message)] = problems(bad)
    assert (line, field) == (15, "steps[1].due.unit")
    assert "'hours', 'days' or 'business_days'" in message


def test_missing_field_points_at_its_parent():
    bad = GOOD.replace("    title: Second step\n", "")
    [(line, field, message)] = problems(bad)
    assert (line, field, message) == (11, "steps[1].title", "required field is missing")


def test_unknown_field_is_reported_where_it_is_written():
    bad = GOOD.replace("    role: coordinator\n", "    role: coordinator\n    prority: urgent\n")
    [(line, field, message)] = problems(bad)
    assert (line, field) == (10, "steps[0].prority")
    assert message.startswith("unknown field")


def test_unknown_role_is_reported_on_its_list_item():
    bad = GOOD.replace("[pharmacist, rn_care_manager]", "[pharmacist, nurse]")
    [(line, field, _)] = problems(bad)
    assert (line, field) == (13, "steps[1].role[1]")


def test_bad_condition_operator_and_event_name():
    bad = GOOD.replace("  - event: patient.enrolled\n", "  - event: Patient Enrolled\n    conditions:\n"
                                                          "      risk: {nee: high}\n")
    found = problems(bad)
    assert (5, "triggers[0].event") in [(line, field) for line, field, _ in found]
    assert (7, "triggers[0].conditions.risk.nee") in [(line, field) for line, field, _ in found]


def test_unknown_dependency_and_bad_anchor():
    bad = GOOD.replace("depends_on: [first]", "depends_on: [frist]")
    found = problems(bad)
    assert (14, "steps[1].depends_on[0]", "no step has the key 'frist'") in found
    assert (15, "steps[1].due.from", "'first' must be 'trigger' or one of this step's depends_on") in found


def test_cycles_are_rejected():
    bad = GOOD.replace("    title: First step\n", "    title: First step\n    depends_on: [second]\n")
    [(line, field, message)] = problems(bad)
    assert field == "steps[0].depends_on" and line == 9
    assert message == "dependency cycle: first -> second -> first"


def test_self_dependency_and_duplicate_step_keys():
    bad = GOOD.replace("key: second", "key: first").replace("depends_on: [first]", "depends_on: [first]")
    found = problems(bad)
    assert (11, "steps[1].key", "step key 'first' is used twice") in found


def test_duplicate_yaml_keys_are_not_silently_merged():
    bad = GOOD.replace('version: "1.0"\n', 'version: "1.0"\nversion: "2.0"\n')
    assert (4, "version", "this key is given twice in the same mapping") in problems(bad)


def test_yaml_syntax_error_has_a_line():
    [(line, field, message)] = problems(GOOD.replace("role: coordinator", "role: [coordinator"))
    assert line >= 9 and field == "" and message.startswith("YAML syntax")


def test_unquoted_decimal_version_is_refused():
    [(line, field, message)] = problems(GOOD.replace('version: "1.0"', "version: 1.10"))
    assert (line, field) == (3, "version") and "as text" in message


def test_not_a_mapping():
    assert problems("- just\n- a list\n") == [(1, "", "a protocol file must be a mapping (key: value lines)")]


def test_problems_print_like_a_compiler():
    with pytest.raises(ProtocolDefinitionError) as err:
        parse(GOOD.replace("unit: business_days", "unit: fortnights"), "x.yaml")
    assert str(err.value).startswith("x.yaml:10: steps[0].due.unit: ")


def test_find_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c"]


def test_a_directory_with_two_files_of_the_same_key(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(ProtocolDefinitionError) as err:
        load_directory(tmp_path)
    [problem] = err.value.problems
    assert problem.file.endswith("b.yaml") and problem.line == 1 and "already used" in problem.message


def test_organisation_files_override_and_bad_ones_are_left_out(tmp_path: Path):
    org = "6f1c2a3e-0000-4000-8000-000000000001"
    (tmp_path / org).mkdir()
    override = GOOD.replace("key: demo", "key: hospital_discharge")
    (tmp_path / org / "discharge.yaml").write_text(override)
    (tmp_path / org / "broken.yaml").write_text(GOOD.replace("key: demo", "key: Broken"))
    (tmp_path / "not-an-id").mkdir()
    registry = load_registry(org_root=tmp_path)
    import uuid

    assert registry.get(uuid.UUID(org), "hospital_discharge").name == "Demo protocol"
    assert registry.get(uuid.uuid4(), "hospital_discharge").name == "Hospital discharge transition"
    assert sorted(Path(p.file).name for p in registry.problems) == ["broken.yaml", "not-an-id"]
