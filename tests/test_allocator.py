"""Importing marketintel sets how long Arrow's allocator keeps freed memory, unless the operator set it."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW = "import marketintel, os, pyarrow; print(os.environ['MIMALLOC_PURGE_DELAY'])"


def purge_delay(**extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"} | extra
    shown = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return shown.stdout.strip()


def test_freed_arrow_memory_is_kept_ten_seconds_by_default() -> None:
    assert purge_delay() == "10000"


def test_the_operators_own_setting_wins() -> None:
    assert purge_delay(MIMALLOC_PURGE_DELAY="250") == "250"
