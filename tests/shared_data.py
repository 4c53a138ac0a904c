"""Where the shared real-world sample data lives (HL7 v2 messages, Synthea bundles, FHIR examples).

It is used in place, never copied: `CARELOOP_SHARED_DATA` if set, else `../shared/data` beside the checkout,
else the workplace's `/work/shared/data` (a clean clone elsewhere, as CI makes, still finds it).
"""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    os.environ.get("CARELOOP_SHARED_DATA"),
    str(Path(__file__).resolve().parents[2] / "shared" / "data"),
    "/work/shared/data",
]

SHARED_DATA = next((Path(c) for c in _CANDIDATES if c and Path(c).is_dir()), Path(_CANDIDATES[1]))
