"""The legacy server's metric names, served in /metrics beside the platform's own.

Dashboards and alerts built on the old `ipfs_datasets_py` server read `mcp_requests_total`,
`mcp_errors_total`, `mcp_active_requests`, `mcp_avg_response_time_ms`, `mcp_uptime_seconds`,
`process_cpu_percent` and `process_memory_percent`. The same data is counted here for every HTTP
request the REST surface serves: plain prometheus-client metrics and one collector, so they live
in the default registry with the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psutil
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mcp_platform import health

# Counter names without the suffix: prometheus-client adds `_total`.
REQUESTS = Counter("mcp_requests", "Total HTTP requests processed")
ERRORS = Counter("mcp_errors", "Total errors encountered (replies with a 5xx status)")
ACTIVE = Gauge("mcp_active_requests", "Requests currently in flight")


class RequestTally:
    """This process's running request figures: the average gauge and /admin/stats read them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.errors = 0
        self.active = 0
        self.total_ms = 0.0

    def started(self) -> None:
        with self._lock:
            self.active += 1

    def finished(self, milliseconds: float, *, error: bool) -> None:
        with self._lock:
            self.active -= 1
            self.total += 1
            self.errors += int(error)
            self.total_ms += milliseconds

    def average_ms(self) -> float:
        with self._lock:
            return self.total_ms / self.total if self.total else 0.0

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            average = self.total_ms / self.total if self.total else 0.0
            return {
                "total": self.total,
                "errors": self.errors,
                "active": self.active,
                "avg_response_time_ms": round(average, 3),
            }


TALLY = RequestTally()
_process = psutil.Process()


class LegacyGaugesCollector(Collector):
    """The gauges computed at scrape time: average response time, uptime, CPU and memory."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "mcp_avg_response_time_ms",
            "Average response time in milliseconds",
            value=round(TALLY.average_ms(), 3),
        )
        yield GaugeMetricFamily(
            "mcp_uptime_seconds", "Seconds since the server started", value=health.uptime_seconds()
        )
        try:
            # cpu_percent compares with the previous call: the first scrape reads 0.0.
            cpu, memory = _process.cpu_percent(interval=None), _process.memory_percent()
        except psutil.Error:
            cpu = memory = 0.0
        yield GaugeMetricFamily("process_cpu_percent", "CPU utilisation percent", value=cpu)
        yield GaugeMetricFamily(
            "process_memory_percent", "Memory utilisation percent", value=round(memory, 3)
        )


REGISTRY.register(LegacyGaugesCollector())


def _start() -> float:
    ACTIVE.inc()
    TALLY.started()
    return time.perf_counter()


def _observe(started: float, status: int) -> None:
    ACTIVE.dec()
    REQUESTS.inc()
    if status >= 500:
        ERRORS.inc()
    TALLY.finished((time.perf_counter() - started) * 1000, error=status >= 500)


class LegacyRequestMetricsMiddleware:
    """Counts every request Django serves, sync or async, without forcing either mode."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.is_async:
            return self._acall(request)
        started = _start()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            _observe(started, status)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started = _start()
        status = 500
        try:
            response = await self.get_response(request)
            status = response.status_code
            return response
        finally:
            _observe(started, status)
