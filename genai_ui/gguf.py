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


# Sane maxima, far above real files (a 405B Llama has about 1,100 tensors and 40 metadata keys; the
# largest vocabularies are about 262k tokens), so a hostile header cannot make us loop for hours
MAX_TENSORS = 1 << 20
MAX_KEYS = 1 << 16
MAX_ITEMS = 1 << 24  # of one array
MAX_STRING = 1 << 24  # bytes (a chat template is a few KB)
MAX_DIMS = 4  # ggml's GGML_MAX_DIMS
MAX_DEPTH = 3  # arrays of arrays: real files do not nest at all


class _Header:
    """The header, read with every count and length checked against what the file still holds."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f, self.size = f, size

    @property
    def left(self) -> int:
        return self.size - self.f.tell()

    def take(self, n: int) -> bytes:
        if n > self.left:
            raise _Bad(f"it needs {n:,} more bytes at offset {self.f.tell():,}, and the file ends "
                       f"{self.left:,} bytes later")
        return self.f.read(n)

    def skip(self, n: int) -> None:
        if n > self.left:
            raise _Bad(f"it claims {n:,} bytes at offset {self.f.tell():,}, more than the file holds")
        self.f.seek(n, 1)

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def count(self, what: str, n: int, at_least: int, most: int) -> int:
        """A count read from the file, refused when its items (each at least `at_least` bytes) cannot fit."""
        if n > most or n * at_least > self.left:
            raise _Bad(f"it claims {n:,} {what} with {self.left:,} bytes left in the file")
        return n

    def string(self, keep: bool = True) -> str:
        (length,) = self.unpack("<Q")
        if length > MAX_STRING:
            raise _Bad(f"it claims a string of {length:,} bytes")
        if not keep:
            self.skip(length)
            return ""
        return self.take(length).decode("utf-8")

    def value(self, value_type: int, keep: bool = True, depth: int = 0):
        if value_type in _SCALARS:
            return self.unpack(_SCALARS[value_type])[0]
        if value_type == _STRING:
            return self.string(keep)
        if value_type == _ARRAY:
            if depth >= MAX_DEPTH:
                raise _Bad(f"it nests arrays more than {MAX_DEPTH} deep")
            item_type, count = self.unpack("<IQ")
            item_size = struct.calcsize(_SCALARS[item_type]) if item_type in _SCALARS else \
                8 if item_type == _STRING else 12 if item_type == _ARRAY else None
            if item_size is None:
                raise _Bad(f"it has an array of unknown GGUF value type {item_type}")
            self.count("array items", count, item_size, MAX_ITEMS)
            if item_type in _SCALARS:
                self.skip(item_size * count)
            else:
                for _ in range(count):  # each item's own length is checked as it is read
                    self.value(item_type, keep=False, depth=depth + 1)
            return count
        raise _Bad(f"it has a value of unknown GGUF value type {value_type}")


class _Bad(Exception):
    """What is wrong with a header, said for the message that names the file."""


def read_gguf_info(path: Path) -> GGUFInfo:
    name = Path(path).name
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelLoadError(f"{name} is not a GGUF file (its first bytes are wrong).")
            header = _Header(f, os.fstat(f.fileno()).st_size)
            version, tensor_count, kv_count = header.unpack("<IQQ")
            if version < 2:
                raise ModelLoadError(f"{name} uses GGUF version {version}, which is too old.")
            # the smallest key-value: an empty key (8), its type (4), one byte; the smallest tensor: an
            # empty name (8), no dims (4), its type and offset (12)
            header.count("metadata entries", kv_count, 13, MAX_KEYS)
            header.count("tensors", tensor_count, 24, MAX_TENSORS)
            metadata = {}
            for _ in range(kv_count):
                key = header.string()
                metadata[key] = header.value(header.unpack("<I")[0])
            types: Counter = Counter()
            data_end = 0
            for _ in range(tensor_count):
                header.string(keep=False)
                (n_dims,) = header.unpack("<I")
                if n_dims > MAX_DIMS:
                    raise _Bad(f"a tensor claims {n_dims:,} dimensions (at most {MAX_DIMS})")
                elements = 1
                for dim in header.unpack(f"<{n_dims}Q"):
                    elements *= dim
                tensor_type, offset = header.unpack("<IQ")
                type_name = TENSOR_TYPES.get(tensor_type, f"type{tensor_type}")
                types[type_name] += 1
                per_block, block_bytes = _BLOCKS.get(type_name, (1, 0))
                data_end = max(data_end, offset + -(-elements // per_block) * block_bytes)
            alignment = metadata.get("general.alignment", 32)
            if not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1):
                raise _Bad(f"its alignment {alignment!r} is not a power of two")
            data_start = -(-f.tell() // alignment) * alignment
            return GGUFInfo(metadata, types, header.size, data_start + data_end)
    except _Bad as err:
        raise ModelLoadError(f"{name} is damaged: its GGUF header cannot be read ({err}).") from None
    except (struct.error, UnicodeDecodeError) as err:
        raise ModelLoadError(f"{name} is damaged: its GGUF header cannot be read ({err}).") from None
    except OSError as err:
        raise ModelLoadError(f"Cannot read {path}: {err.strerror}.") from err
