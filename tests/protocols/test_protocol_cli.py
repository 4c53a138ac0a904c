"""`careloop protocols validate` and `careloop protocols list`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from careloop import cli

GOOD = Path(__file__).parents[2] / "src" / "careloop" / "protocols" / "definitions" / "hospital_discharge.yaml"


def invoke(*args: str):
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "250"})


def test_validate_the_shipped_protocols():
    result = invoke("protocols", "validate")
    assert result.exit_code == 0, result.output
    assert "5 protocol(s) valid" in result.output


def test_validate_a_bad_file_names_file_line_and_field(tmp_path: Path):
    bad = tmp_path / "mine.yaml"
    bad.write_text(GOOD.read_text().replace("unit: business_days}", "unit: fortnights}", 1))
    result = invoke("protocols", "validate", str(bad))
    assert result.exit_code == 1
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "fortnights" in text)
    assert f"{bad}:{line}: steps[0].due.unit: Input should be 'hours', 'days' or 'business_days'" in result.output


def test_validate_a_directory(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(GOOD.read_text())
    assert invoke("protocols", "validate", str(tmp_path)).exit_code == 0
    (tmp_path / "b.yaml").write_text(GOOD.read_text())
    result = invoke("protocols", "validate", str(tmp_path))
    assert result.exit_code == 1 and "already used by" in result.output


def test_list():
    result = invoke("protocols", "list")
    assert result.exit_code == 0
    assert result.output.count("shipped") == 5  # one row per shipped protocol, whatever the terminal width
