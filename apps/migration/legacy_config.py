"""A legacy config file, read and validated: which shape it is and what each key asks for."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from apps.migration import legacy_keys
from apps.migration.parsing import (
    Document,
    KeyPath,
    LegacyConfigError,
    Problem,
    format_path,
    parse_document,
)


class Shape:
    SINGLE_RUNTIME = "single-runtime"
    INTERMEDIATE = "intermediate dual-runtime"
    TARGET = "target dual-runtime"
    RUNTIMES = "runtimes variant"


@dataclass(frozen=True)
class Source:
    """Where in the file a value came from."""

    path: KeyPath
    line: int | None

    def __str__(self) -> str:
        where = format_path(self.path)
        return f"{where} (line {self.line})" if self.line else where


@dataclass(frozen=True)
class Assignment:
    """A platform setting the file asks for."""

    target: legacy_keys.Target
    value: Any
    source: Source


@dataclass(frozen=True)
class IgnoredKey:
    source: Source
    reason: str


@dataclass
class LegacyConfig:
    source_name: str
    source_hash: str
    shape: str
    assignments: dict[tuple[str, str], Assignment] = field(default_factory=dict)
    bootstrap_nodes: list[tuple[str, Source]] = field(default_factory=list)
    environment: list[Assignment] = field(default_factory=list)
    ignored: list[IgnoredKey] = field(default_factory=list)

    def get(self, kind: str, name: str = "") -> Assignment | None:
        return self.assignments.get((kind, name))


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def detect_shape(data: dict[str, Any]) -> str | None:
    """Which legacy shape `data` is, by the keys only that shape has; None if none fits."""
    server = data.get("server") if isinstance(data.get("server"), dict) else {}
    p2p = data.get("p2p") if isinstance(data.get("p2p"), dict) else {}
    if isinstance(server.get("fastapi"), dict) or isinstance(server.get("trio"), dict):
        return Shape.TARGET
    if data.keys() & {"performance", "features"}:
        return Shape.TARGET
    if (
        "runtimes" in data
        or "monitoring" in data
        or p2p.keys() & {"task_queue", "workflow_scheduler", "peer_registry"}
    ):
        return Shape.RUNTIMES
    if p2p:
        return Shape.TARGET
    if server.keys() & {"trio_enabled", "trio_port"} or "runtime" in data:
        return Shape.INTERMEDIATE
    if data.keys() & {"server", "tools", "ipfs_kit"}:
        return Shape.SINGLE_RUNTIME
    return None


class _Reader:
    def __init__(self, document: Document, config: LegacyConfig):
        self.document = document
        self.config = config
        self.problems: list[Problem] = []
        self.claims: dict[tuple[str, str], list[Assignment]] = {}

    def source(self, path: KeyPath) -> Source:
        return Source(path, self.document.line(path))

    def problem(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(path, self.document.line(path), message))

    def walk(self, value: Any, path: KeyPath) -> None:
        lookup = path
        if path[0] == "runtimes" and len(path) >= 2:
            if str(path[1]) not in legacy_keys.KNOWN_RUNTIMES:
                known = ", ".join(legacy_keys.KNOWN_RUNTIMES)
                self.problem(path, f"unknown runtime {path[1]!r}: expected one of {known}")
                return
            if path[1] == "asyncio":
                lookup = ("runtimes", "fastapi", *path[2:])
        key = legacy_keys.find_key(lookup)
        if key is not None:
            self.take(key, value, path)
        elif legacy_keys.is_section(lookup):
            if not isinstance(value, dict):
                if value is None:
                    return  # an empty section (`p2p:` with nothing under it) asks for nothing
                self.problem(
                    path, f"expected a mapping of settings, got {value!r} ({type(value).__name__})"
                )
                return
            for child_key, child in value.items():
                self.walk(child, (*path, str(child_key)))
        else:
            self.config.ignored.append(
                IgnoredKey(self.source(path), "unknown key: not part of any legacy config shape")
            )

    def take(self, key: legacy_keys.LegacyKey, value: Any, path: KeyPath) -> None:
        try:
            checked = key.check(value)
        except legacy_keys.ValueProblem as exc:
            self.problem(path if exc.index is None else (*path, exc.index), str(exc))
            return
        target = key.target
        if target.kind == "ignored":
            self.config.ignored.append(IgnoredKey(self.source(path), target.note))
        elif target.kind == "env":
            self.config.environment.append(Assignment(target, checked, self.source(path)))
        elif target.kind == "bootstrap":
            for index, address in enumerate(checked):
                self.config.bootstrap_nodes.append((address, self.source((*path, index))))
        else:
            self.claims.setdefault(target.key, []).append(
                Assignment(target, checked, self.source(path))
            )

    def settle(self) -> None:
        """One value per setting: keys that mean the same thing must agree."""
        for target_key, claims in self.claims.items():
            values = {repr(claim.value) for claim in claims}
            if len(values) > 1:
                listed = "; ".join(f"{claim.source} says {claim.value!r}" for claim in claims)
                first = claims[0]
                self.problems.append(
                    Problem(first.source.path, first.source.line, f"conflicting values: {listed}")
                )
                continue
            self.config.assignments[target_key] = claims[0]
        seen: set[str] = set()
        unique = []
        for address, source in self.config.bootstrap_nodes:
            if address not in seen:
                seen.add(address)
                unique.append((address, source))
        self.config.bootstrap_nodes = unique


def read_legacy_config(text: str, source_name: str = "") -> LegacyConfig:
    """Parse, detect the shape of and validate a legacy config file.

    Raises LegacyConfigError listing every problem with its key path and line.
    """
    document = parse_document(text, source_name)
    shape = detect_shape(document.data)
    if shape is None:
        sections = ", ".join(legacy_keys.SECTIONS)
        raise LegacyConfigError(
            [Problem((), 1, f"not a legacy config: expected some of the sections {sections}")],
            source_name,
        )
    config = LegacyConfig(source_name=source_name, source_hash=source_hash(text), shape=shape)
    reader = _Reader(document, config)
    for key, value in document.data.items():
        reader.walk(value, (str(key),))
    reader.settle()
    if reader.problems:
        reader.problems.sort(key=lambda problem: (problem.line or 0, format_path(problem.path)))
        raise LegacyConfigError(reader.problems, source_name)
    return config
