"""A child's peak memory is its own, not the high-water mark Linux carries over from a big parent."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from genai_ui.work.background import ProcessResult, own_peak_bytes, run_process

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own

GIB = 2**30
ROOT = Path(__file__).resolve().parent.parent
# bytearray(n) writes its zeros, so its pages are resident at once (+200 MB of VmHWM for 200 MB, measured)
HOLD = "import sys, time; x = bytearray(100_000_000); print('holding', flush=True); time.sleep(1)"
MEASURE = ("import json; from genai_ui.run.benchmark import peak_rss_bytes; x = bytearray(100_000_000); "
           "print(json.dumps({'peak': peak_rss_bytes()}))")


@pytest.fixture
def big_parent():
    """This process grown by 1 GiB, held while its children run, freed at the end."""
    if own_peak_bytes() is None:
        pytest.skip("no /proc/self/status: the carried-over high-water mark is Linux's")
    ballast = bytearray(GIB)
    assert own_peak_bytes() > GIB  # a parent this big gave its children a ru_maxrss of at least this
    yield
    del ballast


def test_a_job_process_reports_its_own_peak_not_its_parents(big_parent):
    result = ProcessResult()
    lines = list(run_process([sys.executable, "-c", HOLD], cancel=threading.Event(), result=result))
    assert lines == ["holding"] and result.returncode == 0
    assert 100_000_000 < result.peak_rss_bytes < 400_000_000, result.peak_rss_bytes


def test_a_bench_worker_reports_its_own_peak_not_its_parents(big_parent):
    # started as the engines bench starts each variant: subprocess.run of the interpreter
    out = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, check=True, cwd=ROOT)
    peak = json.loads(out.stdout.strip().splitlines()[-1])["peak"]
    assert 100_000_000 < peak < 400_000_000, peak
