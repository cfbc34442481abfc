"""Request and reply bodies of /api/v2/jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema


class JobIn(Schema):
    tool: str = Field(description="Name of the tool to call")
    arguments: dict[str, Any] = Field(default_factory=dict)


class JobCreatedOut(Schema):
    id: str
    url: str
    status: str


class JobCallOut(Schema):
    request_id: str
    runtime: str
    outcome: str
    duration_ms: float
    started_at: datetime
    error: str
    pid: int | None


class JobOut(Schema):
    id: str
    url: str
    tool: str
    arguments: dict[str, Any]
    caller: str
    via: str
    status: str
    progress: float | None
    progress_total: float | None
    progress_message: str
    result: dict[str, Any] | None
    error: str
    attempts: int
    max_attempts: int
    worker: str
    cancel_requested_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    calls: list[JobCallOut] | None = None


class JobListOut(Schema):
    jobs: list[JobOut]
    count: int
