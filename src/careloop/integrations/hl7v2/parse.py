"""Lean HL7 v2 parser: segments and fields split on demand, values read with python-hl7's rules.

python-hl7's full `hl7.parse` builds a container tree for every field (about 4 ms for a 2.5 KB ADT);
the feed only needs a few dozen values, so this module splits segments and fields once and resolves
repetitions, components and sub-components only when asked. `value()` follows python-hl7's
`extract_field` rules (first child when the path is shorter than the tree, "" when absent) and uses its
`unescape`, which tests check field by field against `hl7.parse` on every sample message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hl7.util import unescape

_LINE_BREAKS = re.compile(r"\r\n|\n|\r")
HEADER_SEGMENTS = ("MSH", "BHS", "FHS")


class ParseError(ValueError):
    """The text is not an HL7 v2 message we can read (reason is safe to store: no PHI)."""


def normalise(text: str) -> str:
    """Strip a byte-order mark and surrounding whitespace; CR between segments; no blank lines."""
    text = text.lstrip("\ufeff").strip()
    return "\r".join(line for line in _LINE_BREAKS.split(text) if line.strip())


@dataclass(frozen=True, slots=True)
class Separators:
    """MSH-1 and MSH-2: field, component, repetition, escape and sub-component characters."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def separators(self) -> str:
        """python-hl7's order: segment, field, repetition, component, sub-component."""
        return "\r" + self.field + self.repetition + self.component + self.subcomponent

    @property
    def esc(self) -> str:
        return self.escape


def read_separators(header: str) -> Separators:
    """Separators declared by a header segment (defaults for missing characters, like python-hl7)."""
    if len(header) < 4 or header[:3] not in HEADER_SEGMENTS:
        raise ParseError("message does not start with an MSH segment")
    sep = header[3]
    end = header.find(sep, 4)
    chars = header[4:end] if end > 0 else header[4:]
    if sep.isalnum() or sep.isspace():
        raise ParseError("invalid field separator in MSH-1")
    defaults = "^~\\&"
    chars = chars + defaults[len(chars):] if len(chars) < 4 else chars
    result = Separators(field=sep, component=chars[0], repetition=chars[1], escape=chars[2],
                        subcomponent=chars[3])
    distinct = {result.field, result.component, result.repetition, result.escape, result.subcomponent}
    if len(distinct) != 5 or any(c.isalnum() or c.isspace() for c in distinct):
        raise ParseError("encoding characters in MSH-2 are not five distinct separators")
    return result


@dataclass(slots=True)
class Segment:
    """One segment; fields[n] is field n, as in python-hl7 (for MSH, fields[1] is MSH-1)."""

    fields: list[str]
    seps: Separators

    @property
    def name(self) -> str:
        return self.fields[0]

    def value(self, field_num: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
        """The unescaped value at field/repetition/component/sub-component; "" when absent."""
        if field_num >= len(self.fields):
            return ""
        text = self.fields[field_num]
        if self.name in HEADER_SEGMENTS and field_num in (1, 2):
            return text if rep == comp == sub == 1 else ""
        s = self.seps
        if s.repetition not in text and s.component not in text and s.subcomponent not in text:
            return self._unescape(text) if rep == comp == sub == 1 else ""
        reps = text.split(s.repetition)
        if rep > len(reps):
            return ""
        rtext = reps[rep - 1]
        if s.component not in rtext and s.subcomponent not in rtext:
            return self._unescape(rtext) if comp == sub == 1 else ""
        comps = rtext.split(s.component)
        if comp > len(comps):
            return ""
        subs = comps[comp - 1].split(s.subcomponent)
        return self._unescape(subs[sub - 1]) if sub <= len(subs) else ""

    def repetitions(self, field_num: int) -> int:
        """How many repetitions a field has (0 when empty or absent)."""
        if field_num >= len(self.fields) or not self.fields[field_num]:
            return 0
        return self.fields[field_num].count(self.seps.repetition) + 1

    def _unescape(self, text: str) -> str:
        return unescape(self.seps, text) if self.seps.escape in text else text


@dataclass(slots=True)
class Message:
    """A parsed message: its normalised text, separators and segments in order."""

    text: str
    seps: Separators
    segments: list[Segment] = field(default_factory=list)

    def first(self, name: str) -> Segment | None:
        """The first segment with this name, if any."""
        return next((s for s in self.segments if s.name == name), None)

    def all(self, name: str) -> list[Segment]:
        """Every segment with this name, in order."""
        return [s for s in self.segments if s.name == name]


def parse(text: str) -> Message:
    """Split a message into segments and fields (ParseError when it has no readable MSH)."""
    text = normalise(text)
    if not text.startswith("MSH"):
        raise ParseError("message does not start with an MSH segment")
    seps = read_separators(text[:text.find("\r")] if "\r" in text else text)
    segments = []
    for line in text.split("\r"):
        fields = line.split(seps.field)
        if fields[0] in HEADER_SEGMENTS:
            fields.insert(1, seps.field)
        if len(fields[0]) != 3 or not fields[0].isalnum():
            raise ParseError(f"segment {len(segments) + 1} has an invalid name")
        segments.append(Segment(fields, seps))
    if sum(1 for s in segments if s.name in HEADER_SEGMENTS) > 1:
        raise ParseError("batches are not accepted: send one message per frame")
    return Message(text, seps, segments)


# Every (segment, field, component, sub-component) the ADT mapping reads; tests compare each with
# python-hl7 on every sample message, for every repetition present.
USED_FIELDS: tuple[tuple[str, int, int, int], ...] = (
    ("MSH", 1, 1, 1), ("MSH", 2, 1, 1), ("MSH", 3, 1, 1), ("MSH", 4, 1, 1), ("MSH", 4, 2, 1),
    ("MSH", 5, 1, 1), ("MSH", 6, 1, 1), ("MSH", 6, 2, 1), ("MSH", 7, 1, 1), ("MSH", 9, 1, 1),
    ("MSH", 9, 2, 1), ("MSH", 10, 1, 1), ("MSH", 11, 1, 1), ("MSH", 12, 1, 1), ("MSH", 18, 1, 1),
    ("EVN", 1, 1, 1), ("EVN", 2, 1, 1), ("EVN", 6, 1, 1),
    ("PID", 3, 1, 1), ("PID", 3, 4, 1), ("PID", 3, 5, 1), ("PID", 5, 1, 1), ("PID", 5, 2, 1),
    ("PID", 5, 3, 1), ("PID", 7, 1, 1), ("PID", 8, 1, 1), ("PID", 11, 1, 1), ("PID", 11, 3, 1),
    ("PID", 11, 4, 1), ("PID", 11, 5, 1), ("PID", 13, 1, 1), ("PID", 29, 1, 1), ("PID", 30, 1, 1),
    ("PV1", 2, 1, 1), ("PV1", 3, 1, 1), ("PV1", 3, 4, 1), ("PV1", 7, 1, 1), ("PV1", 7, 2, 1),
    ("PV1", 7, 3, 1), ("PV1", 10, 1, 1), ("PV1", 18, 1, 1), ("PV1", 19, 1, 1), ("PV1", 36, 1, 1),
    ("PV1", 44, 1, 1), ("PV1", 45, 1, 1), ("PV2", 3, 1, 1), ("PV2", 3, 2, 1),
    ("DG1", 3, 1, 1), ("DG1", 3, 2, 1), ("DG1", 3, 3, 1), ("DG1", 4, 1, 1), ("DG1", 6, 1, 1),
    ("MRG", 1, 1, 1), ("MRG", 1, 4, 1),
)
