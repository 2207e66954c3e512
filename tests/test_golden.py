"""Every door answers as last recorded, byte for byte (``scripts/golden.py``: 74 answers
of the real model on the seed, BBC and Reuters TRAIN; recorded again only by a change that
alters answers on purpose, in its own commit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need_shared

pytestmark = [pytest.mark.slow, pytest.mark.process]

ROOT = Path(__file__).resolve().parents[1]


def test_every_door_answers_as_recorded() -> None:
    need_shared("data", "bbc_news")
    need_shared("data", "reuters21578")
    need_shared("seeds")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "golden.py"),
            "check",
            str(ROOT / "tests/golden/answers.json"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "74 of 74 answers the same" in done.stdout
