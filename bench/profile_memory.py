"""Not run by `make bench`: what the web process and the Trio runtime hold by imported package.

A fresh interpreter imports each package in turn, in the order the process's own import first
loads it, and the resident memory (RSS) it adds is that package's (with whatever it imports
that no earlier package did); then `django.setup()` (the apps, their models and admin), then the
process's own modules. The idle process holds a little more (its threads, caches, the URL
configuration), which `bench_bridge.py` measures.

    .venv/bin/python bench/profile_memory.py [--top 25]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from common import PYTHON, REPO, random_secret_key

# What each process imports at start (the web process: its ASGI application; the Trio
# runtime: its management command's entry point).
PROCESSES = {
    "web": "import mcp_platform.asgi",
    "Trio runtime": "import django; django.setup(); import trio_runtime.main",
}
PROJECT = ("apps", "mcp_platform", "trio_runtime", "__main__")

ORDER = """
import sys, json
{imports}
seen = []
for name in list(sys.modules):
    top = name.split('.')[0]
    if top not in seen:
        seen.append(top)
print(json.dumps(seen))
"""

MEASURE = """
import sys, json, importlib
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
order = json.loads(sys.argv[1]); rows = []; last = start = rss()
for name in order:
    if name in sys.modules or name.startswith({project!r}):
        continue
    try:
        importlib.import_module(name)
    except BaseException:
        continue
    now = rss(); rows.append((name, now - last)); last = now
import django
django.setup()
now = rss(); rows.append(('django.setup() (apps, models, admin)', now - last)); last = now
{imports}
now = rss(); rows.append(('the project (apps, mcp_platform, trio_runtime)', now - last))
print(json.dumps({{'start': start, 'total': now, 'rows': rows}}))
"""


def last_json(output: str):
    return json.loads(output.strip().splitlines()[-1])


def profile(imports: str, env: dict[str, str]) -> dict:
    order = subprocess.run(
        [PYTHON, "-c", ORDER.format(imports=imports)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    measured = subprocess.run(
        [
            PYTHON,
            "-c",
            MEASURE.format(imports=imports, project=PROJECT),
            json.dumps(last_json(order.stdout)),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return last_json(measured.stdout)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25, help="packages shown per process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mcp-bench-memory-") as tmp:
        os.chmod(tmp, 0o700)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mcp_platform.settings",
            "SECRET_KEY": random_secret_key(50),
            "MCP_PLATFORM_DATA_DIR": tmp,
            "LOG_LEVEL": "WARNING",
        }
        for process, imports in PROCESSES.items():
            data = profile(imports, env)
            print(
                f"{process}: interpreter {data['start']:.1f} MB, after its imports "
                f"{data['total']:.1f} MB RSS"
            )
            for name, mb in sorted(data["rows"], key=lambda row: -row[1])[: args.top]:
                print(f"  {mb:6.1f} MB  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
