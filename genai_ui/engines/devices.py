"""The devices OpenVINO sees here, with the names a person recognises."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from ..errors import DeviceNotFound


@dataclass(frozen=True)
class Device:
    id: str
    name: str

    def to_api(self) -> dict:
        return {"id": self.id, "name": self.name}


class Devices:
    """Asks OpenVINO once, on first use (importing openvino is not free at start-up)."""

    def __init__(self, default: str = "CPU") -> None:
        self.default = default
        self._found: tuple[Device, ...] | None = None
        self._properties: dict[str, frozenset[str] | None] = {}
        self._capabilities: dict[str, frozenset[str] | None] = {}
        self._precisions: dict[str, str] = {}
        self._lock = threading.Lock()

    def list(self) -> tuple[Device, ...]:
        """Devices OpenVINO lists (CPU, GPU.0, NPU, …), then AUTO, which picks among them."""
        with self._lock:
            if self._found is None:
                self._found = _query_openvino()
            return self._found

    def resolve(self, requested: str = "") -> str:
        """The device to use: the request, else the default; either must be one OpenVINO lists."""
        device = (requested or self.default or "CPU").strip().upper()
        known = [d.id for d in self.list()]
        # "GPU" means the first GPU, as OpenVINO itself accepts.
        if device in known or (device == "GPU" and any(k.startswith("GPU") for k in known)):
            return device
        raise DeviceNotFound(requested or self.default, known)

    def properties(self, device: str) -> frozenset[str] | None:
        """The properties the device takes (KV_CACHE_PRECISION, …); None when OpenVINO cannot say (AUTO)."""
        with self._lock:
            if device not in self._properties:
                self._properties[device] = _supported_properties(device)
            return self._properties[device]

    def capabilities(self, device: str) -> frozenset[str] | None:
        """What the device computes in and with (FP32, BF16, FP16, INT8, …); None when OpenVINO cannot say."""
        with self._lock:
            if device not in self._capabilities:
                self._capabilities[device] = _optimization_capabilities(device)
            return self._capabilities[device]


    def default_precision(self, device: str) -> str:
        """The precision the device computes in by default (f32, bf16, f16), or "" when it cannot say."""
        with self._lock:
            if device not in self._precisions:
                self._precisions[device] = _default_precision(device)
            return self._precisions[device]

    def processor(self) -> str:
        """This machine's processor as the CPU device names it, with its cores: what every figure (Tune's
        reports, the benches') was measured on."""
        name = next((d.name.removeprefix("CPU: ") for d in self.list() if d.id == "CPU"), "CPU")
        return f"{name}, {os.cpu_count()} cores"


def _query_openvino() -> tuple[Device, ...]:
    import openvino as ov

    core = ov.Core()
    found = []
    for device_id in core.available_devices:
        try:
            name = core.get_property(device_id, "FULL_DEVICE_NAME")
        except RuntimeError:
            name = device_id
        found.append(Device(device_id, f"{device_id}: {name}"))
    found.append(Device("AUTO", "AUTO: let OpenVINO choose the best device"))
    return tuple(found)


def _supported_properties(device: str) -> frozenset[str] | None:
    import openvino as ov

    try:
        return frozenset(str(p) for p in ov.Core().get_property(device, "SUPPORTED_PROPERTIES"))
    except RuntimeError:
        return None


def _optimization_capabilities(device: str) -> frozenset[str] | None:
    import openvino as ov

    try:
        return frozenset(str(c) for c in ov.Core().get_property(device, "OPTIMIZATION_CAPABILITIES"))
    except RuntimeError:
        return None


def _default_precision(device: str) -> str:
    import openvino as ov

    try:
        hint = str(ov.Core().get_property(device, "INFERENCE_PRECISION_HINT"))
    except RuntimeError:
        return ""
    return {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}.get(hint.split("'")[1] if "'" in hint else hint, "")
