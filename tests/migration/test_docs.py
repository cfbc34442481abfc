"""docs/migration.md lists every legacy key the importer knows."""

from pathlib import Path

from apps.migration.legacy_keys import KEYS

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migration.md"


def test_every_legacy_key_is_in_the_migration_guide_table():
    text = GUIDE.read_text()
    missing = [key.path for key in KEYS if f"| `{key.path}` |" not in text]
    assert missing == []
