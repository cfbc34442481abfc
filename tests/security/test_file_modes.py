"""Secrets at rest: after `make run`'s steps the data directory is 0700 and every file in it
0600; the platform refuses to start on a data directory or secret file other users can read,
and says the chmod that fixes it."""

import os
import stat
import subprocess
import sys

import pytest

from tests.harness import REPO

pytestmark = pytest.mark.slow


def _env(data_dir) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DATABASE_URL", "MCP_PLATFORM_TESTING", "DJANGO_SETTINGS_MODULE"}
    }
    return {
        **clean,
        "MCP_PLATFORM_DATA_DIR": str(data_dir),
        "MCP_PLATFORM_ADMIN_PASSWORD": "x" * 12,
    }


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A data directory made by `make run`'s steps (key, migrate, sync_tools, ensure_admin),
    from a shell with the usual umask 022."""
    data_dir = tmp_path_factory.mktemp("modes") / "data"
    result = subprocess.run(
        ["sh", "-c", "umask 022; make -s -o install prepare"],
        cwd=REPO,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return data_dir


def _check(data_dir) -> subprocess.CompletedProcess:
    secret = (data_dir / "secret_key").read_text().strip()
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env={**_env(data_dir), "SECRET_KEY": secret},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_runs_steps_leave_a_private_directory_and_private_files(prepared):
    from trio_runtime.p2p.identity import load_or_create_identity

    load_or_create_identity(prepared)
    assert mode(prepared) == 0o700
    files = [os.path.join(root, name) for root, _, names in os.walk(prepared) for name in names]
    assert {"secret_key", "db.sqlite3", "p2p_identity.key"} <= {os.path.basename(f) for f in files}
    assert {f: oct(mode(f)) for f in files} == {f: oct(0o600) for f in files}
    for root, dirs, _ in os.walk(prepared):
        for name in dirs:
            assert mode(os.path.join(root, name)) == 0o700, name
    assert _check(prepared).returncode == 0


def test_start_is_refused_on_an_open_data_directory_or_secret_file(prepared):
    try:
        os.chmod(prepared, 0o755)
        refused = _check(prepared)
        assert refused.returncode != 0
        assert f"run `chmod 700 {prepared}`" in refused.stderr
        os.chmod(prepared, 0o700)
        os.chmod(prepared / "secret_key", 0o644)
        refused = _check(prepared)
        assert refused.returncode != 0
        assert f"run `chmod 600 {prepared / 'secret_key'}`" in refused.stderr
    finally:
        os.chmod(prepared, 0o700)
        os.chmod(prepared / "secret_key", 0o600)
    assert _check(prepared).returncode == 0
