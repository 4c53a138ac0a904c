"""The lean parser reads the same values as python-hl7 for every field the ADT mapping uses."""

from __future__ import annotations

from pathlib import Path

import hl7
import pytest

from careloop.integrations.hl7v2 import parse
from shared_data import SHARED_DATA

SAMPLES = SHARED_DATA / "hl7v2"
FILES = sorted(SAMPLES.rglob("*.hl7"))


def _messages(path: Path) -> list[str]:
    """Each message of a sample file, BOM removed and CR-separated (FHS/BHS batches split)."""
    text = parse.normalise(path.read_bytes().decode("utf-8"))
    if not text.startswith(("FHS", "BHS")):
        return [text]
    batch = hl7.parse_hl7(text)
    messages = [m for b in batch for m in b] if isinstance(batch, hl7.File) else list(batch)
    return [str(m) for m in messages]


def _reference(msg: hl7.Message, name: str, index: int, field: int, rep: int, comp: int, sub: int) -> str:
    segment = msg.segments(name)(index)
    try:
        return segment.extract_field(index, field, rep, comp, sub)
    except IndexError:  # python-hl7's way of saying "not present"
        return ""


def test_samples_are_there() -> None:
    assert len(FILES) >= 140


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_lean_parser_matches_python_hl7(path: Path) -> None:
    for text in _messages(path):
        reference = hl7.parse(text)
        lean = parse.parse(text)
        assert [s.name for s in lean.segments] == [str(s[0]) for s in reference]
        compared = 0
        for name, field, comp, sub in parse.USED_FIELDS:
            for index, segment in enumerate(lean.all(name), start=1):
                for rep in range(1, max(1, segment.repetitions(field)) + 1):
                    expected = _reference(reference, name, index, field, rep, comp, sub)
                    assert segment.value(field, rep, comp, sub) == expected, (name, index, field, rep, comp, sub)
                    compared += 1
        assert compared > 10


def test_line_endings_and_bom_are_equivalent() -> None:
    cr = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||X^^^H^MR||Doe^Jane"
    for variant in (cr, cr.replace("\r", "\n"), cr.replace("\r", "\r\n"), "\ufeff" + cr + "\r\n\r\n"):
        assert parse.parse(variant).first("PID").value(5, 1, 2) == "Jane"


def test_custom_encoding_characters_and_escapes() -> None:
    text = "MSH#*~\\&#A#B#C#D#20240101##ADT*A01#1#P#2.5\rPID#1##X*** H*MR##O\\T\\Brien*Ann"
    pid = parse.parse(text).first("PID")
    assert pid.value(5, 1, 1) == "O&Brien"
    assert pid.value(3, 1, 4) == " H"
    assert pid.value(5, 1, 2) == "Ann"


@pytest.mark.parametrize("text", ["", "PID|1", "MSH", "MSHa^~\\&|x", "MSH|^^^^|A", "MSH|^~\\&|A\rP\x00D|1",
                                  "MSH|^~\\&|A\rMSH|^~\\&|B"])
def test_malformed_text_raises_parse_error(text: str) -> None:
    with pytest.raises(parse.ParseError):
        parse.parse(text)
