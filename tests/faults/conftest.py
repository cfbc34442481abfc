"""The fault suite: real processes killed with SIGKILL. Selected by `make faults` (`-m faults`),
and by `make test` in CI's PostgreSQL pass; skipped otherwise, so a developer's `make test`
stays quick."""

from __future__ import annotations

import os

import pytest

FAULTS_ENV = "MCP_PLATFORM_FAULTS"


def faults_selected(config: pytest.Config) -> bool:
    if os.environ.get(FAULTS_ENV, "").lower() in {"1", "true", "yes"}:
        return True
    if "faults" in (config.getoption("markexpr", "") or ""):
        return True
    in_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    return in_ci and os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.fixture(autouse=True)
def _only_when_selected(request):
    if not faults_selected(request.config):
        pytest.skip("the fault suite runs under `make faults` (and CI's PostgreSQL pass)")
