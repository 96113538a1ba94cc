"""The real coding-agent CLIs (installed by scripts/setup_clients), run headless against a real
gateway whose models are served by the local fake upstream."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

BIN = Path(__file__).resolve().parents[2] / ".clients" / "node_modules" / ".bin"


def cli(name: str) -> Path:
    path = BIN / name
    if not path.exists():  # a missing client is a failure, never a skip
        pytest.fail(f"{path} is missing: run scripts/setup_clients (scripts/check does)")
    return path


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The CLI with only the given environment (plus PATH): no key or config of the machine leaks in."""
    return subprocess.run(
        args,
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
