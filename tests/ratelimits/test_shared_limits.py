"""With two web workers on Redis (the scaled-out profile), a rate limit is one count for the
node, not one per worker: of 60 calls spread over both workers, exactly the limit is served."""

from __future__ import annotations

import anyio
import httpx
import pytest
from django.conf import settings

from apps.access.services import create_api_token
from apps.ratelimits import limiter
from apps.ratelimits.services import create_rate_limit
from apps.routing.services import create_rule
from apps.tools.services import sync_tools
from tests.conftest import require_service
from tests.harness import PlatformProcess

pytestmark = pytest.mark.slow

LIMIT = 40  # served calls: enough that both workers serve some (a worker may take a run)
CALLS = 60
STAGGER = 0.02  # seconds between the starts of calls that each last 0.2 s
ATTEMPTS = 3


@pytest.fixture
def redis_url():
    if not settings.REDIS_URL:
        pytest.skip("the scaled-out profile runs with REDIS_URL set")
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{settings.REDIS_URL}: {exc!r}")
    limiter.reset()  # the counts of earlier runs in this Redis database
    yield settings.REDIS_URL
    limiter.reset()


def test_two_web_workers_share_one_count(redis_url, transactional_db, tmp_path):
    sync_tools()
    # Run here, on the web workers: the served call's pid then says which worker it was.
    create_rule(name_pattern="sleep", runtime="asyncio", priority=1000)
    create_rate_limit(name="sleep-shared", tool="sleep", principal="*", limit=LIMIT)
    _, secret = create_api_token(name="shared", scopes=["tools:read", "tools:call"])
    node = PlatformProcess(
        tmp_path / "node", env={"REDIS_URL": redis_url, "MCP_PLATFORM_WEB_WORKERS": "2"}
    )
    node.start(timeout=180)
    try:
        # Which worker accepts a connection is the kernel's choice: an attempt whose served
        # calls all ran on one worker proves nothing and is run again (a bounded number of
        # times) on a fresh count.
        for _ in range(ATTEMPTS):
            limiter.reset()
            statuses, pids = _calls(node.url, secret)
            assert statuses.count(200) == LIMIT, statuses
            assert statuses.count(429) == CALLS - LIMIT, statuses
            if len(pids) == 2:
                break
    finally:
        node.stop()
    assert len(pids) == 2, f"in {ATTEMPTS} attempts every served call ran on one worker: {pids}"


def _calls(url: str, secret: str) -> tuple[list[int], set[int]]:
    statuses: list[int] = []
    pids: set[int] = set()

    async def one() -> None:
        # A connection per call: the kernel hands each to whichever worker accepts it.
        async with httpx.AsyncClient(timeout=60) as http:
            reply = await http.post(
                f"{url}/api/v2/tools/sleep/call",
                json={"seconds": 0.2},
                headers={"Authorization": f"Bearer {secret}", "Connection": "close"},
            )
        statuses.append(reply.status_code)
        if reply.status_code == 200:
            pids.add(reply.json()["meta"]["pid"])
        else:
            assert reply.status_code == 429 and int(reply.headers["Retry-After"]) >= 1

    async def scenario() -> None:
        # Staggered, overlapping calls: connections that arrive together are all accepted by
        # the worker that wakes first; arrivals spread out keep both workers accepting.
        async with anyio.create_task_group() as group:
            for _ in range(CALLS):
                group.start_soon(one)
                await anyio.sleep(STAGGER)

    anyio.run(scenario)
    return statuses, pids
