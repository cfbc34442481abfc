"""Read a legacy YAML file into plain values, keeping the line of every key for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """`("p2p", "bootstrap_nodes", 0)` → `p2p.bootstrap_nodes[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (key path and line) and what."""

    path: KeyPath
    line: int | None
    message: str

    def __str__(self) -> str:
        where = format_path(self.path)
        return (
            f"{where} (line {self.line}): {self.message}"
            if self.line
            else f"{where}: {self.message}"
        )


class LegacyConfigError(ValueError):
    """The file cannot be imported; `problems` says where and why, one entry per problem."""

    def __init__(self, problems: list[Problem], source_name: str = ""):
        self.problems = problems
        self.source_name = source_name
        lines = "\n".join(f"  {problem}" for problem in problems)
        prefix = f"{source_name}: " if source_name else ""
        super().__init__(f"{prefix}invalid legacy config:\n{lines}")


@dataclass
class Document:
    """The parsed file: its values, and the line where each key path was written."""

    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int | None:
        """The line of `path`, or of its nearest ancestor written in the file."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _path_at_error(text: str) -> tuple[KeyPath, int | None]:
    """Replay the parser's events up to a syntax error to learn which key it was reading."""
    stack: list[dict[str, Any]] = []
    path: KeyPath = ()
    line = None

    def current() -> KeyPath:
        parts: list[str | int] = []
        for frame in stack:
            if frame["kind"] == "map" and frame["key"] is not None:
                parts.append(frame["key"])
            elif frame["kind"] == "seq" and frame["index"] >= 0:
                parts.append(frame["index"])
        return tuple(parts)

    def value_done() -> None:
        if stack and stack[-1]["kind"] == "map":
            stack[-1]["expect_key"] = True

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            starts_value = isinstance(
                event, yaml.ScalarEvent | yaml.MappingStartEvent | yaml.SequenceStartEvent
            )
            if starts_value and stack:
                frame = stack[-1]
                if frame["kind"] == "map" and frame["expect_key"]:
                    frame["key"] = str(getattr(event, "value", "?"))
                    frame["expect_key"] = False
                    path, line = current(), event.start_mark.line + 1
                    continue
                if frame["kind"] == "seq":
                    frame["index"] += 1
            if isinstance(event, yaml.MappingStartEvent):
                stack.append({"kind": "map", "key": None, "expect_key": True})
            elif isinstance(event, yaml.SequenceStartEvent):
                stack.append({"kind": "seq", "index": -1})
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                stack.pop()
                value_done()
            elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
                value_done()
    except yaml.YAMLError:
        return path, line
    return path, line


def _record_lines(
    node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], problems: list[Problem]
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    Problem(
                        (*path, key), line, f"duplicate key (first written on line {seen[key]})"
                    )
                )
            seen[key] = line
            lines[(*path, key)] = line
            _record_lines(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _record_lines(item, (*path, index), lines, problems)


def parse_document(text: str, source_name: str = "") -> Document:
    """Parse YAML text into a Document; raises LegacyConfigError naming the key path and line."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        path, key_line = _path_at_error(text)
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else key_line
        problem = f"{exc.problem or 'malformed YAML'}"
        if exc.context:
            problem = f"{exc.context}, {problem}"
        raise LegacyConfigError(
            [Problem(path, line, f"malformed YAML: {problem}")], source_name
        ) from None
    except yaml.YAMLError as exc:
        raise LegacyConfigError(
            [Problem((), None, f"malformed YAML: {exc}")], source_name
        ) from None
    if node is None or data is None:
        raise LegacyConfigError([Problem((), None, "the file is empty")], source_name)
    if not isinstance(data, dict):
        raise LegacyConfigError(
            [
                Problem(
                    (),
                    node.start_mark.line + 1,
                    f"expected a mapping of sections, got {type(data).__name__}",
                )
            ],
            source_name,
        )
    lines: dict[KeyPath, int] = {}
    problems: list[Problem] = []
    _record_lines(node, (), lines, problems)
    if problems:
        raise LegacyConfigError(problems, source_name)
    return Document(data=data, lines=lines)
