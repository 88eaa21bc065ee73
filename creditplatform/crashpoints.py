"""Test-only pause points, so a test can kill -9 a real process at a chosen moment.

Some windows (between the champion alias switch and the audit write, inside the publish
transaction) last microseconds; a crash test cannot hit them by timing. When
``CREDITPLATFORM_TEST_PAUSE_AT`` names a point, the process writes its pid to
``CREDITPLATFORM_TEST_PAUSE_MARKER`` there and sleeps until killed. Unset, a point costs one
dictionary lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT = "CREDITPLATFORM_TEST_PAUSE_AT"
PAUSE_MARKER = "CREDITPLATFORM_TEST_PAUSE_MARKER"


def crashpoint(name: str) -> None:
    if os.environ.get(PAUSE_AT) != name:
        return
    marker = os.environ.get(PAUSE_MARKER)
    if marker:
        Path(marker).write_text(f"{os.getpid()} {name}\n")
    time.sleep(3600)
