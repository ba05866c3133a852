"""This machine's reading speeds and layer cost (run/machine.py): the real measure, and how it is remembered."""

import json

import pytest

from genai_ui.run.machine import PRECISIONS, VERSION, MachineProfile, MachineProfiles
from genai_ui.testing.models import machine_profile

pytestmark = pytest.mark.layer("engine")


def test_the_measure_of_this_machine():
    """Measured for real (once a run: every test home gets it, see conftest.seed_home)."""
    profile = MachineProfile(**machine_profile()["CPU"])
    # the 2-core EPYC reads 11 to 23 GB/s idle, depending on the precision (docs/speed.md), less when busy
    assert set(profile.bytes_per_s) == set(PRECISIONS) and all(0.3e9 < v < 1e12 for v in profile.bytes_per_s.values())
    assert 0 < profile.layer_s < 0.01 and 50e6 < profile.runtime_bytes < 2e9
    assert profile.version == VERSION and profile.device == "CPU"


def test_measured_once_remembered_and_measured_again_on_another_processor(tmp_path):
    calls, processor = [], ["AMD EPYC, 2 cores"]

    def measure(*, device, processor, model):
        calls.append((device, processor, model))
        return MachineProfile(processor=processor, device=device, bytes_per_s={p: 1e9 for p in PRECISIONS},
                              layer_s=0.001, runtime_bytes=1, measured="2026-12-07")

    profiles = MachineProfiles(tmp_path / "machine.json", lambda: processor[0], lambda: "the built-in", measure)
    first = profiles.get("CPU")
    assert profiles.get("CPU") == first and len(calls) == 1  # remembered
    again = MachineProfiles(tmp_path / "machine.json", lambda: processor[0], lambda: None, measure)
    assert again.get("CPU") == first and len(calls) == 1  # across a restart: read from the file
    assert json.loads((tmp_path / "machine.json").read_text())["CPU"]["processor"] == "AMD EPYC, 2 cores"
    processor[0] = "Intel Xeon, 2 cores"  # the home moved to another machine
    assert again.get("CPU").processor == "Intel Xeon, 2 cores" and len(calls) == 2
    again.get("GPU")
    assert calls[-1][0] == "GPU" and set(json.loads((tmp_path / "machine.json").read_text())) == {"CPU", "GPU"}
