"""The baseline of bench_rest.py: the least an app must do to answer `POST /tools/execute/echo`
like the platform does. It checks the bearer token, validates the body with pydantic and returns
the legacy reply `{tool, status, result}`; no database, no catalogue, no call log.

Served with `uvicorn bench.bare_fastapi:app` (see common.uvicorn_command); the accepted token is
read from `BENCH_TOKEN`.
"""

from __future__ import annotations

import hmac
import os
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

EXPECTED_AUTHORIZATION = f"Bearer {os.environ.get('BENCH_TOKEN', '')}"

app = FastAPI(title="bare echo", openapi_url=None, docs_url=None, redoc_url=None)


class EchoIn(BaseModel):
    message: str


class EchoResult(BaseModel):
    message: str


class ExecuteOut(BaseModel):
    tool: str
    status: str
    result: EchoResult


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


@app.post("/tools/execute/echo")
async def execute_echo(body: EchoIn, authorization: Annotated[str, Header()] = "") -> ExecuteOut:
    if not hmac.compare_digest(authorization.encode(), EXPECTED_AUTHORIZATION.encode()):
        raise HTTPException(status_code=401, detail="Invalid or missing bearer token")
    return ExecuteOut(tool="echo", status="success", result=EchoResult(message=body.message))
