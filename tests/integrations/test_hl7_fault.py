"""kill -9 of the MLLP listener mid-load (short version of bench/hl7_fault.py): acknowledged means applied
exactly once, nothing applied half-way, the SQLite file intact."""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _fault_module():
    spec = importlib.util.spec_from_file_location("hl7_fault", BENCH / "hl7_fault.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.xdist_group("hl7-fault")
def test_kill_dash_nine_mid_load_loses_and_duplicates_nothing(tmp_path):
    # A thread of its own: the browser tests' Playwright keeps an event loop running on this worker's main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(_fault_module().run, cycles=2, patients=600, seed=7, tmp=str(tmp_path)).result()
    assert result["ok"], result
    assert result["acked"] == result["sent"] == 2400
    assert result["acked_per_run"][0] < 2400  # the first listener was killed mid-load
