"""Load protocol files: YAML -> validated Protocol, every error naming the file, the line and the field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from careloop.errors import CareLoopError
from careloop.protocols.definition import Protocol

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a protocol file."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ProtocolDefinitionError(CareLoopError):
    """A protocol file that cannot be used; `problems` lists every error found."""

    code, status, title = "invalid_protocol", 422, "Invalid protocol definition"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems),
                         extra={"errors": [{"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                                           for p in problems]})


def parse(text: str, file: str) -> Protocol:
    """Validate one protocol's YAML text; ProtocolDefinitionError lists every problem with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise ProtocolDefinitionError([Problem(file, (mark.line + 1) if mark else 1, "",
                                               f"YAML syntax: {err.problem or err}")]) from None
    if not isinstance(data, dict) or root is None:
        raise ProtocolDefinitionError([Problem(file, 1, "", "a protocol file must be a mapping (key: value lines)")])
    problems = [Problem(file, line, field, msg) for line, field, msg in _duplicate_keys(root)]
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as err:
        problems += _pydantic_problems(err, root, file)
        raise ProtocolDefinitionError(problems) from None
    problems += [Problem(file, *_position(root, loc), msg) for loc, msg in semantic_problems(protocol)]
    if problems:
        raise ProtocolDefinitionError(problems)
    return protocol


def load_file(path: Path) -> Protocol:
    """Read and validate one protocol file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProtocolDefinitionError([Problem(str(path), 1, "", f"cannot read the file: {type(err).__name__}")]
                                      ) from None
    return parse(text, str(path))


def protocol_files(directory: Path) -> list[Path]:
    """The protocol files of a directory (*.yaml and *.yml), in name order."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def collect(directory: Path) -> tuple[dict[str, Protocol], list[Problem]]:
    """The valid protocols of a directory by key, and the problems of the files that are not valid."""
    found: dict[str, tuple[Protocol, Path]] = {}
    problems: list[Problem] = []
    for path in protocol_files(directory):
        try:
            protocol = load_file(path)
        except ProtocolDefinitionError as err:
            problems += err.problems
            continue
        if protocol.key in found:
            problems.append(Problem(str(path), _key_line(path), "key",
                                    f"protocol key '{protocol.key}' is already used by {found[protocol.key][1]}"))
            continue
        found[protocol.key] = (protocol, path)
    return {key: protocol for key, (protocol, _) in found.items()}, problems


def load_directory(directory: Path) -> dict[str, Protocol]:
    """Every protocol of a directory by key; the problems of all files are raised together."""
    protocols, problems = collect(directory)
    if problems:
        raise ProtocolDefinitionError(problems)
    return protocols


def check(path: Path | None) -> tuple[list[Protocol], list[Problem]]:
    """Validate a file, a directory, or (None) the shipped protocols and every organisation's directory."""
    if path is None:
        from careloop.protocols.registry import load_registry

        registry = load_registry()
        return [*registry.shipped.values(), *(p for org in registry.by_org.values() for p in org.values())], \
            registry.problems
    if path.is_dir():
        protocols, problems = collect(path)
        return list(protocols.values()), problems
    return [load_file(path)], []


def _key_line(path: Path) -> int:
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    return _position(root, ("key",))[0]


# --- semantic checks ---------------------------------------------------------------------------------------

def semantic_problems(protocol: Protocol) -> list[tuple[Loc, str]]:
    """What the schema alone cannot see: step keys, dependencies, due anchors and dependency cycles."""
    problems: list[tuple[Loc, str]] = []
    index: dict[str, int] = {}
    for i, step in enumerate(protocol.steps):
        if step.key in index:
            problems.append((("steps", i, "key"), f"step key '{step.key}' is used twice"))
        index.setdefault(step.key, i)
    for i, step in enumerate(protocol.steps):
        for j, dep in enumerate(step.depends_on):
            if dep == step.key:
                problems.append((("steps", i, "depends_on", j), "a step cannot depend on itself"))
            elif dep not in index:
                problems.append((("steps", i, "depends_on", j), f"no step has the key '{dep}'"))
        if step.due.from_ != "trigger" and step.due.from_ not in step.depends_on:
            problems.append((("steps", i, "due", "from"),
                             f"'{step.due.from_}' must be 'trigger' or one of this step's depends_on"))
    cycle = find_cycle({s.key: [d for d in s.depends_on if d in index and d != s.key] for s in protocol.steps})
    if cycle:
        problems.append((("steps", index[cycle[0]], "depends_on"),
                         "dependency cycle: " + " -> ".join([*cycle, cycle[0]])))
    return problems


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle of a dependency graph as its nodes in order, or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt):]
            if nxt not in state and (found := visit(nxt, path)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in graph:
        if start not in state and (found := visit(start, [])):
            return found
    return None


# --- YAML positions ----------------------------------------------------------------------------------------

def _pydantic_problems(err: ValidationError, root: yaml.Node, file: str) -> list[Problem]:
    seen, problems = set(), []
    for e in err.errors():
        loc = tuple(e["loc"])
        if e["type"] == "missing":
            line, field = _position(root, loc[:-1])
            field = f"{field}.{loc[-1]}" if field else str(loc[-1])
        else:
            line, field = _position(root, loc)
        if (line, field) not in seen:
            seen.add((line, field))
            problems.append(Problem(file, line, field, _message(e)))
    return problems


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling; see docs/protocols.md)"
    if error["type"] == "string_pattern_mismatch":
        if "event" in error["loc"]:
            return "must be an event type such as encounter.discharged (lower-case words joined by dots)"
        return "must be lower_snake_case: a letter, then letters, digits or _ (at most 60)"
    return str(error["msg"]).removeprefix("Value error, ")


def _position(root: yaml.Node, loc: Loc) -> tuple[int, str]:
    """(line, dotted field) of the deepest YAML node the location reaches; parts the YAML lacks are skipped."""
    node, line, names = root, root.start_mark.line + 1, []
    for part in loc:
        child = _child(node, part)
        if child is None:
            continue  # a union tag or validator name, not a place in the file
        key_node, node = child
        line = (key_node or node).start_mark.line + 1
        names.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return line, "".join(names).lstrip(".")


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if key.value == part:
                return key, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def _duplicate_keys(node: yaml.Node, path: str = "") -> Iterator[tuple[int, str, str]]:
    """YAML keeps the last of two equal keys silently; a protocol file must not say a thing twice."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            field = f"{path}.{key.value}".lstrip(".")
            if key.value in seen:
                yield key.start_mark.line + 1, field, "this key is given twice in the same mapping"
            seen.add(key.value)
            yield from _duplicate_keys(value, field)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, f"{path}[{i}]")

