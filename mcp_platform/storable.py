"""Text a client sent, made storable: PostgreSQL refuses a NUL byte in text and JSON columns
(SQLite stores it), so a batch holding one would fail whole. The writers of records that carry
client text (the call log, the audit chain) store U+FFFD in its place."""

from __future__ import annotations

from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"


def storable(value: Any) -> Any:
    """`value` with every NUL in its strings (and in its mappings' keys) replaced."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT) if NUL in value else value
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value
