"""Run every benchmark (bench/bench_*.py) in turn, each as its own process; `make bench`.

Each script's output is passed through as it comes. Exits 1 if any script fails, is killed at
its time limit or none are found, and 130 on Ctrl-C after the running script has cleaned up.

    .venv/bin/python bench/run.py [rest mcp ...] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
FIGURES_ENV = "BENCH_FIGURES"  # as in common.py: each script appends its targets here
REPO = BENCH_DIR.parent
# Time a script gets to stop its servers after being asked to, before it is killed.
GRACE_SECONDS = 20


def discover(names: list[str]) -> list[Path]:
    """The bench_*.py scripts, sorted; only those named (`rest` or `bench_rest.py`) if any."""
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if not names:
        return scripts
    wanted = {name.removeprefix("bench_").removesuffix(".py") for name in names}
    chosen = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    unknown = wanted - {s.stem.removeprefix("bench_") for s in chosen}
    if unknown:
        raise SystemExit(f"no such benchmark: {', '.join(sorted(unknown))}")
    return chosen


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def stop(process: subprocess.Popen[bytes], first_signal: int) -> None:
    """Ask the script's process group to stop with `first_signal`, then SIGTERM, then SIGKILL."""
    for signum, wait in ((first_signal, GRACE_SECONDS), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        _signal_group(process, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
    # Anything the script left behind in its group goes with it.
    _signal_group(process, signal.SIGKILL)


def print_targets(path: Path) -> None:
    """Every figure a script reported against its target (common.report_target), in one list."""
    lines = path.read_text().splitlines() if path.exists() else []
    if not lines:
        return
    print("\n=== targets (reported, not asserted) ===")
    for line in lines:
        figure = json.loads(line)
        print(
            f"  {figure['verdict']:<8} {figure['value']:>16}  {figure['figure']}"
            f"  (target {figure['target']})"
        )


def run_script(script: Path, timeout: float, figures: Path) -> int:
    """Run one benchmark in its own process group; its exit code, or 124 when it timed out."""
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", FIGURES_ENV: str(figures)},
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{script.name}: still running after {timeout:.0f}s, stopping it", flush=True)
        stop(process, signal.SIGTERM)
        return 124
    except BaseException:  # Ctrl-C or SIGTERM: let the script clean up its servers first
        stop(process, signal.SIGINT)
        raise
    finally:
        _signal_group(process, signal.SIGKILL)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks in bench/.")
    parser.add_argument("names", nargs="*", help="benchmarks to run (e.g. rest); default all")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds allowed per benchmark script"
    )
    args = parser.parse_args(argv)
    scripts = discover(args.names)
    if not scripts:
        print(f"no bench_*.py scripts in {BENCH_DIR}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    outcomes: list[tuple[str, int, float]] = []
    figures = Path(tempfile.mkdtemp(prefix="mcp-bench-")) / "figures.jsonl"
    try:
        for script in scripts:
            print(f"\n=== {script.name} ===", flush=True)
            started = time.monotonic()
            code = run_script(script, args.timeout, figures)
            outcomes.append((script.name, code, time.monotonic() - started))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        with contextlib.suppress(OSError):
            print_targets(figures)
            figures.unlink(missing_ok=True)
            figures.parent.rmdir()
    print("\n=== summary ===")
    for name, code, seconds in outcomes:
        verdict = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"  {name:<24} {verdict:<18} {seconds:6.1f}s")
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
