"""Read a GGUF file's metadata and tensor types without loading its weights.

The `gguf` package parses every array (the 49k-token vocabulary included) and takes
seconds; this reads the header in milliseconds, skipping arrays it does not need.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import ModelLoadError

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# ggml tensor types by number, as GGUF stores them
TENSOR_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
                10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
                17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
                23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16"}
# (elements per block, bytes per block) of the types whose size we know
_BLOCKS = {"F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "F64": (1, 8), "I8": (1, 1), "I16": (1, 2),
           "I32": (1, 4), "I64": (1, 8), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22),
           "Q5_1": (32, 24), "Q8_0": (32, 34), "Q8_1": (32, 36), "Q2_K": (256, 84), "Q3_K": (256, 110),
           "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210), "Q8_K": (256, 292)}


@dataclass(frozen=True)
class GGUFInfo:
    metadata: dict  # scalar and string values; arrays are given as their length
    tensor_types: Counter = field(default_factory=Counter)
    file_size: int = 0
    required_size: int = 0  # where the last tensor's data ends

    @property
    def complete(self) -> bool:
        """False for a file cut short (an interrupted download): engines crash on those."""
        return self.file_size >= self.required_size

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if value else None

    @property
    def weight_format(self) -> str:
        """The quantization most weights use, e.g. Q4_1 (embeddings and norms aside)."""
        quantized = {t: n for t, n in self.tensor_types.items() if t not in ("F32", "F16", "BF16")}
        pool = quantized or self.tensor_types
        return max(pool, key=pool.get) if pool else "unknown"


def read_gguf_info(path: Path) -> GGUFInfo:
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelLoadError(f"{Path(path).name} is not a GGUF file (its first bytes are wrong).")
            version, tensor_count, kv_count = struct.unpack("<IQQ", f.read(20))
            if version < 2:
                raise ModelLoadError(f"{Path(path).name} uses GGUF version {version}, which is too old.")
            metadata = {}
            for _ in range(kv_count):
                key = _string(f)
                metadata[key] = _value(f, struct.unpack("<I", f.read(4))[0])
            types: Counter = Counter()
            data_end = 0
            for _ in range(tensor_count):
                _string(f)
                n_dims = struct.unpack("<I", f.read(4))[0]
                elements = 1
                for dim in struct.unpack(f"<{n_dims}Q", f.read(8 * n_dims)):
                    elements *= dim
                tensor_type, offset = struct.unpack("<IQ", f.read(12))
                name = TENSOR_TYPES.get(tensor_type, f"type{tensor_type}")
                types[name] += 1
                per_block, block_bytes = _BLOCKS.get(name, (1, 0))
                data_end = max(data_end, offset + -(-elements // per_block) * block_bytes)
            alignment = int(metadata.get("general.alignment", 32))
            data_start = -(-f.tell() // alignment) * alignment
            return GGUFInfo(metadata, types, os.fstat(f.fileno()).st_size, data_start + data_end)
    except (struct.error, UnicodeDecodeError, KeyError, OverflowError, MemoryError) as err:
        raise ModelLoadError(f"{Path(path).name} is damaged: its GGUF header cannot be read ({err}).") from err
    except OSError as err:
        raise ModelLoadError(f"Cannot read {path}: {err.strerror}.") from err


def _string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", f.read(8))
    if length > 1 << 24:
        raise struct.error(f"a string of {length} bytes")
    return f.read(length).decode("utf-8")


def _value(f: BinaryIO, value_type: int):
    if value_type in _SCALARS:
        fmt = _SCALARS[value_type]
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    if value_type == _STRING:
        return _string(f)
    if value_type == _ARRAY:
        item_type, count = struct.unpack("<IQ", f.read(12))
        if item_type in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[item_type]) * count, 1)
        else:
            for _ in range(count):
                _value(f, item_type)
        return count
    raise KeyError(f"unknown GGUF value type {value_type}")
