"""An ASGI wrapper for the profiles: the served app (`GC_PROBE_APP`, `module:attribute`) with
the garbage collector's passes timed (`gc.callbacks`, CPU time of the thread that ran the pass)
and counted per generation, answered as JSON on `GET /_gc_probe`. Once the app's lifespan has
started, `GC_PROBE_FREEZE=1` runs `gc.collect(); gc.freeze()` (the old objects leave the
collector's scans) and `GC_PROBE_FREEZE=0` runs `gc.unfreeze()` (undoes the platform's own
freeze, `mcp_platform.asgi.freeze_startup_heap`), for comparing the two. Used by profile_mcp.py; not part of `make bench`:

    GC_PROBE_APP=bench.bare_mcp:app uvicorn bench.gc_probe:app
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import time

_totals: dict[str, list] = {"cpu_seconds": [0.0, 0.0, 0.0], "passes": [0, 0, 0]}
_started = [0.0]


def _timed(phase: str, info: dict) -> None:
    if phase == "start":
        _started[0] = time.thread_time()
        return
    generation = info["generation"]
    _totals["cpu_seconds"][generation] += time.thread_time() - _started[0]
    _totals["passes"][generation] += 1


gc.callbacks.append(_timed)
_module, _, _attribute = os.environ["GC_PROBE_APP"].partition(":")
inner = getattr(importlib.import_module(_module), _attribute)
FREEZE = os.environ.get("GC_PROBE_FREEZE", "")


async def app(scope, receive, send) -> None:
    if scope["type"] == "http" and scope["path"] == "/_gc_probe":
        body = json.dumps({**_totals, "frozen": gc.get_freeze_count()}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    if scope["type"] == "lifespan" and FREEZE:
        inner_send = send

        async def send(message) -> None:  # the lifespan's, with the freeze
            if message["type"] == "lifespan.startup.complete" and FREEZE == "1":
                gc.collect()
                gc.freeze()
            elif message["type"] == "lifespan.startup.complete" and FREEZE == "0":
                gc.unfreeze()
            await inner_send(message)

    await inner(scope, receive, send)
