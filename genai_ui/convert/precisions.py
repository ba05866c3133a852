"""The precisions a model's weights are stored in, read from its IR: the share of weight elements at each
(int4, int8, fp16, ...), as NNCF's weight compression leaves them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

from ..errors import ModelLoadError, first_line

# constants this small are norms, biases, scales or zero points, not weight matrices
MIN_WEIGHT_ELEMENTS = 1024
# OpenVINO element type of the stored weights -> precision name (NNCF's names for its modes)
_PRECISIONS = {"u4": "int4", "i4": "int4", "u8": "int8", "i8": "int8", "u2": "int2", "i2": "int2",
               "u3": "int3", "nf4": "nf4", "f4e2m1": "fp4", "f8e4m3": "fp8_e4m3", "f8e5m2": "fp8_e5m2",
               "f16": "fp16", "bf16": "bf16", "f32": "fp32", "f64": "fp64"}
# which input of each op holds a weight
_WEIGHT_INPUTS = {"MatMul": (0, 1), "Gather": (0,), "Convolution": (1,), "GroupConvolution": (1,),
                  "ConvolutionBackpropData": (1,), "GroupConvolutionBackpropData": (1,)}
# ops a weight decompression subgraph is built from (Gather: a codebook lookup)
_DECOMPRESSION = {"Convert", "Reshape", "Transpose", "Multiply", "Subtract", "Unsqueeze", "Squeeze", "Gather"}
_MAX_CHAIN = 8


def weight_precisions(*, model_dir: Path) -> dict[str, float]:
    """The share of weight elements stored at each precision, largest first, e.g.
    `{"int4": 0.79, "int8": 0.21}`: read from the IR's graph, without compiling it.

    `model_dir` is an exported folder: its `openvino_model.xml`, or every model of a
    VLM or diffusers folder (the tokenizers aside).
    """
    import openvino as ov

    core = ov.Core()
    counts: dict[str, int] = {}
    for xml in _model_files(Path(model_dir)):
        try:
            model = core.read_model(xml)
        except RuntimeError as err:
            raise ModelLoadError(f"{xml.name} in {xml.parent} cannot be read: {first_line(err)}") from err
        for precision, elements in _weights(model):
            counts[precision] = counts.get(precision, 0) + elements
        del model
    total = sum(counts.values())
    if not total:
        return {}
    shares = {k: round(n / total, 4) for k, n in sorted(counts.items(), key=lambda kv: -kv[1])}
    largest = next(iter(shares))
    shares[largest] = round(1.0 - sum(v for k, v in shares.items() if k != largest), 4)
    return shares


def _model_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ModelLoadError(f"There is no model folder at {folder}.")
    if (folder / "openvino_model.xml").is_file():
        return [folder / "openvino_model.xml"]
    found = sorted(p for p in folder.rglob("*.xml")
                   if "tokenizer" not in p.name and p.with_suffix(".bin").is_file())
    if not found:
        raise ModelLoadError(f"{folder} holds no OpenVINO model (an .xml file with its .bin).")
    return found


def _weights(model: Any) -> Iterator[tuple[str, int]]:
    """(precision, element count) of each weight constant, each counted once even when shared
    (tied embeddings feed both a Gather and a MatMul)."""
    seen: set[str] = set()
    for op in model.get_ordered_ops():
        for index in _WEIGHT_INPUTS.get(op.get_type_name(), ()):
            found = _decompression(op.input_value(index).get_node(), _MAX_CHAIN)
            if not found:
                continue
            constants, kinds = found
            weight = max(constants, key=_elements)
            if _elements(weight) < MIN_WEIGHT_ELEMENTS or weight.get_name() in seen:
                continue
            seen.add(weight.get_name())
            yield _precision(weight, constants, kinds), _elements(weight)


def _decompression(node: Any, depth: int) -> tuple[list, set[str]] | None:
    """The constants and op kinds of a subgraph that only turns constants into a weight;
    None when it reads anything else (activations)."""
    kind = node.get_type_name()
    if kind == "Constant":
        return [node], set()
    if kind not in _DECOMPRESSION or depth == 0:
        return None
    constants, kinds = [], {kind}
    for value in node.input_values():
        found = _decompression(value.get_node(), depth - 1)
        if found is None:
            return None
        constants += found[0]
        kinds |= found[1]
    return constants, kinds


def _precision(weight: Any, constants: list, kinds: set[str]) -> str:
    stored = weight.get_element_type().get_type_name()
    name = _PRECISIONS.get(stored, stored)
    scales = {c.get_element_type().get_type_name() for c in constants if c is not weight}
    if "Gather" in kinds:  # the stored values are indices into a codebook
        return "cb4" if name == "int4" else "codebook"
    if "f8e8m0" in scales and name in ("fp4", "fp8_e4m3"):
        return "mx" + name
    if name == "fp4" and "f8e4m3" in scales:
        return "nvfp4"
    return name


def _elements(constant: Any) -> int:
    return math.prod(constant.get_output_shape(0))
