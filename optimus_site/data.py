"""Where the shared sample data lives (shared/data next to the project, see its README)."""

import os
from pathlib import Path

from django.conf import settings


def shared_data_dir() -> Path:
    """OPTIMUS_DATA_DIR if set, else ../shared/data relative to the project, else /work/shared/data."""
    candidates = [os.environ.get("OPTIMUS_DATA_DIR"), settings.BASE_DIR.parent / "shared" / "data", "/work/shared/data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "online_retail").is_dir():
            return Path(candidate)
    raise FileNotFoundError(
        "shared data not found: set OPTIMUS_DATA_DIR to the folder holding online_retail/ and category_tree.csv"
    )
