"""Legacy dataset tool: async, typed in the old style, returns a status dict."""
# ruff: noqa: UP006, UP035, UP045 - legacy code, kept as it was written

from typing import Any, Dict, Optional

KNOWN = {"squad": 87599, "imdb": 25000}


async def load_dataset(
    source: str, format: Optional[str] = None, options: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    """Load a dataset by name and report its size."""
    if source not in KNOWN:
        return {"status": "error", "error": f"dataset '{source}' not found", "source": source}
    return {
        "status": "success",
        "source": source,
        "format": format or "json",
        "rows": KNOWN[source],
        "options": options or {},
    }


def _row_count(source):
    return KNOWN.get(source, 0)
