"""Export options that check themselves, presets on top of them, and the group size that fits a model.

The job that runs an export lives in convert/jobs.py; this module only decides what to run.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import asdict, dataclass

from ..errors import InvalidParameter
from ..tasks import TASKS

FLOAT_FORMATS = ("fp32", "fp16")
FOUR_BIT_FORMATS = ("int4", "nf4", "mxfp4", "cb4")
BACKUP_PRECISIONS = ("", "none", "int8_sym", "int8_asym")
GROUP_SIZES = (128, 64, 32, 16)  # the largest that divides every input width of the model is picked
# calibration datasets for chat models: "auto" is made from the model's own generations (no download);
# the named ones come from the Hub through the `datasets` package
NAMED_DATASETS = ("wikitext2", "c4", "c4-new", "gsm8k")


@functools.cache
def weight_formats() -> tuple[str, ...]:
    """What the installed optimum-intel's `--weight-format` offers (fp32, fp16, int8, int4, mxfp4, nf4, cb4 in 2.2)."""
    import argparse

    try:
        from optimum.commands.export.openvino import parse_args_openvino

        parser = argparse.ArgumentParser()
        parse_args_openvino(parser)
        (action,) = [a for a in parser._actions if a.dest == "weight_format"]
        return tuple(action.choices)
    except Exception:  # an optimum-intel that changed its parser: the formats every version has
        return ("fp32", "fp16", "int8", "int4")


def datasets() -> tuple[str, ...]:
    return ("auto",) + (NAMED_DATASETS if importlib.util.find_spec("datasets") else ())


@dataclass(frozen=True)
class ExportOptions:
    weight_format: str = "int4"
    group_size: int = 0  # 0: the largest of GROUP_SIZES that fits the model; -1: per channel
    ratio: float = 1.0  # share of 4-bit layers; the rest get the backup precision
    sym: bool = False
    awq: bool = False
    scale_estimation: bool = False
    dataset: str = ""
    all_layers: bool = False  # embeddings and the last layer at 4 bits too
    backup_precision: str = ""
    trust_remote_code: bool = False
    task: str = ""  # a Hub task (text-generation, …); empty: from the Hub's metadata
    num_samples: int = 0  # calibration samples; 0: optimum's default (128)

    def __post_init__(self) -> None:
        fmt = self.weight_format
        if fmt not in weight_formats():
            raise InvalidParameter(f"weight_format must be one of {', '.join(weight_formats())}; got {fmt!r}.")
        if self.task and self.task not in TASKS:
            raise InvalidParameter(f"task must be one of {', '.join(TASKS)} or empty; got {self.task!r}.")
        if not isinstance(self.group_size, int) or isinstance(self.group_size, bool) or self.group_size < -1:
            raise InvalidParameter(f"group_size must be 0 (fit the model), -1 (per channel) or a positive whole "
                                   f"number; got {self.group_size!r}.")
        if not isinstance(self.ratio, (int, float)) or not 0 < self.ratio <= 1:
            raise InvalidParameter(f"ratio must be above 0 and at most 1; got {self.ratio!r}.")
        if self.backup_precision not in BACKUP_PRECISIONS:
            raise InvalidParameter(f"backup_precision must be one of {', '.join(p or '(default)' for p in BACKUP_PRECISIONS)}; "
                                   f"got {self.backup_precision!r}.")
        if self.dataset and self.dataset.split(":")[0] not in datasets():
            extra = "" if importlib.util.find_spec("datasets") else \
                f" ({', '.join(NAMED_DATASETS)} need the `datasets` package, which this app does not install)"
            raise InvalidParameter(f"dataset must be one of {', '.join(datasets())}{extra}; got {self.dataset!r}.")
        if not isinstance(self.num_samples, int) or self.num_samples < 0:
            raise InvalidParameter(f"num_samples must be 0 (the default) or more; got {self.num_samples!r}.")
        four_bit_only = {"a group size": self.group_size > 0, "a ratio below 1": self.ratio < 1, "AWQ": self.awq,
                         "scale estimation": self.scale_estimation, "a dataset": bool(self.dataset),
                         "all layers": self.all_layers, "a backup precision": bool(self.backup_precision)}
        if fmt in FLOAT_FORMATS:
            conflicts = [name for name, on in {**four_bit_only, "sym": self.sym}.items() if on]
            if conflicts:
                raise InvalidParameter(f"{fmt} keeps the weights uncompressed: {_join(conflicts)} cannot go with it.")
        elif fmt not in FOUR_BIT_FORMATS:  # int8: every weight per channel
            conflicts = [name for name, on in four_bit_only.items() if on]
            if conflicts:
                raise InvalidParameter(f"{fmt} compresses every weight per channel, so {_join(conflicts)} cannot "
                                       "go with it (they are for 4-bit formats).")
        if self.sym and fmt in ("nf4", "mxfp4", "cb4"):
            raise InvalidParameter(f"sym applies to int4 and int8; {fmt} has no zero point to drop.")
        if self.scale_estimation and not self.dataset:
            raise InvalidParameter("Scale estimation needs a calibration dataset (e.g. dataset=auto).")
        if self.dataset and not (self.awq or self.scale_estimation or self.ratio < 1):
            raise InvalidParameter("A dataset changes nothing on its own: use it with AWQ, scale estimation or a "
                                   "ratio below 1, or leave it empty.")

    @property
    def compresses(self) -> bool:
        return self.weight_format not in FLOAT_FORMATS

    def group_size_for(self, config: dict) -> int:
        """The group size this model gets: -1 (per channel) unless the format is 4-bit."""
        return pick_group_size(config, self.group_size) if self.weight_format in FOUR_BIT_FORMATS else -1

    def quantization_config(self, group_size: int) -> dict:
        """The weight-compression config optimum-intel takes (as its CLI builds it from these flags)."""
        four_bit = self.weight_format in FOUR_BIT_FORMATS
        config = {"bits": 4 if four_bit else 8, "sym": self.sym, "ratio": self.ratio if four_bit else 1.0,
                  "group_size": group_size if four_bit else -1, "dtype": self.weight_format,
                  "quant_method": "awq" if self.awq else "default", "scale_estimation": self.scale_estimation or None,
                  "dataset": self.dataset or None, "all_layers": self.all_layers or None,
                  "backup_precision": self.backup_precision or None}
        if self.num_samples:
            config["num_samples"] = self.num_samples
        return {k: v for k, v in config.items() if v is not None}

    def cli_flags(self, group_size: int) -> list[str]:
        """The same options as optimum-cli flags: what a person would type to get this model."""
        flags = ["--weight-format", self.weight_format]
        if self.weight_format in FOUR_BIT_FORMATS:
            flags += ["--group-size", str(group_size)]
            if self.ratio < 1:
                flags += ["--ratio", f"{self.ratio:g}"]
        flags += [flag for flag, on in (("--sym", self.sym), ("--awq", self.awq),
                                        ("--scale-estimation", self.scale_estimation),
                                        ("--all-layers", self.all_layers),
                                        ("--trust-remote-code", self.trust_remote_code)) if on]
        if self.dataset:
            flags += ["--dataset", self.dataset]
        if self.backup_precision:
            flags += ["--backup-precision", self.backup_precision]
        if self.num_samples:
            flags += ["--num-samples", str(self.num_samples)]
        return flags

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "Smallest": (ExportOptions(weight_format="int4", all_layers=True),
                 "Every layer at 4 bits, embeddings too: the smallest files and the fastest replies; answers drift most."),
    "Balanced": (ExportOptions(weight_format="int4", awq=True),
                 "4-bit layers with 8-bit embeddings and head, AWQ on: about a quarter of fp16; the usual choice."),
    "Best quality": (ExportOptions(weight_format="int8"),
                     "8-bit weights: half the size of fp16, answers nearly the same as the original."),
}


def pick_group_size(config: dict, requested: int = 0) -> int:
    """The group size to use: `requested` if given; else the largest of GROUP_SIZES that divides
    every input width of the model's layers (SmolLM2's hidden size 576 rules out 128 and takes 64)."""
    if requested:
        return requested
    widths = input_widths(config)
    for size in GROUP_SIZES:
        if widths and all(w % size == 0 for w in widths):
            return size
    return 128 if not widths else -1  # nothing fits: per channel, which always does


def input_widths(config: dict) -> set[int]:
    widths = set()
    for part in (config, config.get("text_config") or {}):
        hidden, heads = part.get("hidden_size"), part.get("num_attention_heads")
        for key in ("hidden_size", "intermediate_size", "moe_intermediate_size"):
            if isinstance(part.get(key), int):
                widths.add(part[key])
        if isinstance(hidden, int) and isinstance(heads, int) and heads:
            widths.add(heads * (part.get("head_dim") or hidden // heads))
    return widths


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
