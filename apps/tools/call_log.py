"""The call log: records are queued in memory and written in batches, never on the call path."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from mcp_platform.batches import BatchWriter
from mcp_platform.storable import storable


@dataclass(frozen=True)
class CallRecord:
    tool_name: str
    runtime: str
    caller: str
    via: str
    request_id: str
    started_at: datetime
    duration_ms: float
    outcome: str
    error: str = ""
    attempts: int = 1
    fallback: bool = False
    pid: int | None = None


def _write(batch: list[CallRecord]) -> None:
    from apps.tools.models import ToolCall

    ToolCall.objects.bulk_create([ToolCall(**storable(asdict(entry))) for entry in batch])


writer: BatchWriter[CallRecord] = BatchWriter(
    name="call-log-writer", what="call records", write=_write
)
# The writer's verbs, as the rest of the platform calls them.
record = writer.put
flush = writer.flush
start = writer.start
stop = writer.stop
