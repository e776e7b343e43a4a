"""Running the real `marketintel` command in a separate process, as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

MARKETINTEL = str(Path(sys.executable).with_name("marketintel"))


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETINTEL_")}
    env.update({"MARKETINTEL_DATA_DIR": str(data_dir), "COLUMNS": "200", **extra})
    return env


def run_cli(
    data_dir: Path, *args: str, timeout: float = 300, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MARKETINTEL, *args],
        env=environment(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
