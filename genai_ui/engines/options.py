"""How a chat model runs: the engine's own speed and memory options, chosen per model.

Speculative decoding (a small draft model proposes tokens the main model checks in one
step), prompt-lookup decoding (the proposals come from the prompt itself), the precision the
device computes in, the KV cache's precision, dynamic quantization's group size and the
threads (device properties), and the stateful engine (one reply at a time, its compiled
model cached on disk). A change reloads the model once; the choice is remembered per model
and device, in the app's home.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import atomic
from ..errors import DraftMismatch, InvalidParameter, ModelLoadError, first_line

if TYPE_CHECKING:
    from ..library import ModelEntry
    from .devices import Devices

log = logging.getLogger(__name__)

# the precision a device computes in, and the capability (OPTIMIZATION_CAPABILITIES) it must list for it;
# "" keeps the device's default (bf16 on a CPU with AMX or AVX512_BF16, else f32; f16 on a GPU)
INFERENCE_PRECISIONS = {"f32": "FP32", "bf16": "BF16", "f16": "FP16"}
KV_PRECISIONS = ("f16", "u8", "u4")  # "" keeps the device's default (u8 on CPU)
DQ_GROUP_SIZES = (0, 32, 64, 128, 256)  # -1 keeps the device's default (32 on CPU); 0 turns it off
# batching: openvino_genai's continuous batching, many replies at once; stateful: its LLMPipeline on a
# stateful model, one reply at a time, compiled model cached; optimum: optimum-intel's OVModelForCausalLM
ENGINES = ("batching", "stateful", "optimum")


@dataclass(frozen=True)
class EngineOptions:
    draft_model: str = ""  # library id of the draft for speculative decoding
    assistant_tokens: int = 5  # tokens proposed per step, by the draft or by prompt lookup
    prompt_lookup: bool = False
    kv_cache_precision: str = ""
    dq_group_size: int = -1
    engine: str = "batching"
    inference_precision: str = ""
    threads: int = 0  # INFERENCE_NUM_THREADS; 0 keeps the device's default (all its cores)
    draft_path: str = ""  # where the draft's files are: set when the draft is checked, not stored

    def __post_init__(self) -> None:
        if not isinstance(self.draft_model, str):
            raise InvalidParameter(f"draft_model must be a model id, not {self.draft_model!r}.")
        if isinstance(self.assistant_tokens, bool) or not isinstance(self.assistant_tokens, int) \
                or not 1 <= self.assistant_tokens <= 32:
            raise InvalidParameter(f"assistant_tokens must be a whole number from 1 to 32; got {self.assistant_tokens!r}.")
        if self.draft_model and self.prompt_lookup:
            raise InvalidParameter("Speculative decoding and prompt lookup cannot run together: pick one.")
        if self.engine not in ENGINES:
            raise InvalidParameter(f"engine must be one of {', '.join(ENGINES)}; got {self.engine!r}.")
        if self.engine != "batching" and self.assisted:
            raise InvalidParameter(f"Speculative decoding and prompt lookup run on the batching engine, "
                                   f"not the {self.engine} one: turn one of them off.")
        if self.kv_cache_precision not in ("", *KV_PRECISIONS):
            raise InvalidParameter(f"kv_cache_precision must be one of {', '.join(KV_PRECISIONS)} "
                                   f"(or empty for the device's default); got {self.kv_cache_precision!r}.")
        if self.inference_precision not in ("", *INFERENCE_PRECISIONS):
            raise InvalidParameter(f"inference_precision must be one of {', '.join(INFERENCE_PRECISIONS)} "
                                   f"(or empty for the device's default); got {self.inference_precision!r}.")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or not 0 <= self.threads <= 1024:
            raise InvalidParameter(f"threads must be a whole number from 1 to 1024 (or 0 for all the device's "
                                   f"cores); got {self.threads!r}.")
        if self.dq_group_size not in (-1, *DQ_GROUP_SIZES):
            raise InvalidParameter(f"dq_group_size must be one of {', '.join(map(str, DQ_GROUP_SIZES))} "
                                   f"(or -1 for the device's default); got {self.dq_group_size!r}.")

    @property
    def assisted(self) -> bool:
        return bool(self.draft_model) or self.prompt_lookup

    def configure(self, config: Any) -> Any:
        """A request's GenerationConfig for this engine: an assisted one must say how many
        tokens to propose a step (and prompt lookup, the longest n-gram it looks up)."""
        if self.assisted:
            config.num_assistant_tokens = self.assistant_tokens
        if self.prompt_lookup:
            config.max_ngram_size = 3
        return config

    def properties(self) -> dict[str, Any]:
        """The device properties these options set (the draft and prompt lookup are added by the loader)."""
        props: dict[str, Any] = {}
        if self.inference_precision:
            props["INFERENCE_PRECISION_HINT"] = self.inference_precision
        if self.threads:
            props["INFERENCE_NUM_THREADS"] = self.threads
        if self.kv_cache_precision:
            props["KV_CACHE_PRECISION"] = self.kv_cache_precision
        if self.dq_group_size >= 0:
            props["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = self.dq_group_size
        return props

    def describe(self) -> str:
        """In a few words, for the load message: what differs from the defaults."""
        parts = []
        if self.draft_model:
            parts.append(f"speculative decoding with {self.draft_model} ({self.assistant_tokens} tokens a step)")
        if self.prompt_lookup:
            parts.append(f"prompt lookup ({self.assistant_tokens} tokens a step)")
        if self.inference_precision:
            parts.append(f"computes in {self.inference_precision}")
        if self.threads:
            parts.append(f"{self.threads} thread{'s' if self.threads > 1 else ''}")
        if self.kv_cache_precision:
            parts.append(f"KV cache {self.kv_cache_precision}")
        if self.dq_group_size == 0:
            parts.append("dynamic quantization off")
        elif self.dq_group_size > 0:
            parts.append(f"dynamic quantization group {self.dq_group_size}")
        if self.engine != "batching":
            parts.append("Optimum Intel engine" if self.engine == "optimum" else "stateful engine")
        return ", ".join(parts) or "default options"

    def to_api(self) -> dict:
        values = asdict(self)
        del values["draft_path"]
        return values

    @classmethod
    def from_api(cls, values: dict) -> "EngineOptions":
        known = {f.name for f in fields(cls)} - {"draft_path"}
        unknown = set(values) - known
        if unknown:
            raise InvalidParameter(f"Unknown engine option(s): {', '.join(sorted(unknown))}.")
        return cls(**values)


ANY_DEVICE = "*"  # options chosen for a model on every device (and all of them, in a file of version 1)


class EngineOptionsStore:
    """Each model's options per device, in one JSON file: read at start, written on each change. A
    device without options of its own uses the ones chosen for every device. A file that cannot be
    read is moved aside, never overwritten, and `notice` says where it went."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notice = ""  # for the UI: what happened to an unreadable file, else ""
        self._lock = threading.Lock()
        self._options: dict[str, dict[str, EngineOptions]] = {}
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and data.get("version") == 2:
                self._options = {model_id: {device: EngineOptions.from_api(values)
                                            for device, values in by_device.items()}
                                 for model_id, by_device in data["models"].items()}
            else:  # version 1, before the options were per device: {model: options}, for every device
                self._options = {model_id: {ANY_DEVICE: EngineOptions.from_api(values)} for model_id, values in data.items()}
        except FileNotFoundError:
            pass
        except (ValueError, TypeError, AttributeError, KeyError, InvalidParameter) as err:
            self._options = {}  # all or nothing: half a file is not what anyone chose
            self.notice = self._set_aside(err)
            log.warning("%s", self.notice)

    def _set_aside(self, err: Exception) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside, n = self.path.with_name(f"{self.path.name}.unreadable-{stamp}"), 2
        while aside.exists():  # two bad starts in one second keep both files
            aside, n = self.path.with_name(f"{self.path.name}.unreadable-{stamp}-{n}"), n + 1
        try:
            os.rename(self.path, aside)
        except OSError as move_err:
            return (f"The engine options in {self.path} are unreadable ({err}) and could not be moved aside "
                    f"({move_err}): every model runs with the default options.")
        return (f"The engine options in {self.path} were unreadable ({err}): the file was moved to {aside} "
                "and every model runs with the default options until new ones are chosen.")

    def get(self, model_id: str, device: str = ANY_DEVICE) -> EngineOptions:
        """The model's options on the device: its own, else the ones for every device, else the defaults."""
        with self._lock:
            by_device = self._options.get(model_id, {})
            return by_device.get(device or ANY_DEVICE, by_device.get(ANY_DEVICE, EngineOptions()))

    def set(self, model_id: str, options: EngineOptions, device: str = ANY_DEVICE) -> None:
        """Remember the options for the model on the device; for every device (ANY_DEVICE), they replace
        what each device had."""
        device = device or ANY_DEVICE
        with self._lock:
            by_device = {} if device == ANY_DEVICE else self._options.pop(model_id, {})
            by_device[device] = replace(options, draft_path="")
            self._store(model_id, by_device)
            self._write()

    def forget(self, model_id: str) -> None:
        """A model deleted from the library: its options go, and it is no longer anyone's draft."""
        with self._lock:
            self._options.pop(model_id, None)
            for other, by_device in list(self._options.items()):
                self._store(other, {d: replace(o, draft_model="") if o.draft_model == model_id else o
                                    for d, o in by_device.items()})
            self._write()

    def _store(self, model_id: str, by_device: dict[str, EngineOptions]) -> None:
        """Without what a device would get anyway: the defaults, or the options for every device."""
        everywhere = by_device.get(ANY_DEVICE, EngineOptions())
        kept = {d: o for d, o in by_device.items() if o != (EngineOptions() if d == ANY_DEVICE else everywhere)}
        if kept:
            self._options[model_id] = kept
        else:
            self._options.pop(model_id, None)

    def _write(self) -> None:
        data = {"version": 2, "models": {k: {d: o.to_api() for d, o in sorted(v.items())}
                                         for k, v in sorted(self._options.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self.path, json.dumps(data, indent=1))


def check_device_options(devices: "Devices", device: str, options: EngineOptions) -> None:
    """Options the device does not take, refused in words before any load (OpenVINO's own would come
    from deep in the load). A device OpenVINO cannot describe (AUTO) is left to the load."""
    supported = devices.properties(device)
    if supported is not None:
        for name, label in (("KV_CACHE_PRECISION", "a KV-cache precision"),
                            ("DYNAMIC_QUANTIZATION_GROUP_SIZE", "a dynamic quantization group size"),
                            ("INFERENCE_PRECISION_HINT", "an inference precision"),
                            ("INFERENCE_NUM_THREADS", "a number of threads")):
            if name in options.properties() and name not in supported:
                raise InvalidParameter(f"{device} does not take {label}: leave it at the device's default.")
    capabilities = devices.capabilities(device)
    if options.inference_precision and capabilities is not None \
            and INFERENCE_PRECISIONS[options.inference_precision] not in capabilities:
        computes = [p for p, c in INFERENCE_PRECISIONS.items() if c in capabilities]
        raise InvalidParameter(f"{device} cannot compute in {options.inference_precision}: it lists "
                               f"{', '.join(computes) or 'none of ' + ', '.join(INFERENCE_PRECISIONS)}. "
                               "Pick one of those, or the device's default.")


def precisions(devices: "Devices", device: str) -> list[str]:
    """The inference precisions the device lists (all of them when OpenVINO cannot say)."""
    capabilities = devices.capabilities(device)
    return [p for p, c in INFERENCE_PRECISIONS.items() if capabilities is None or c in capabilities]


# Text a draft and its model must split into the same tokens: words, code, digits, accents, emoji, spaces
TOKENIZER_PROBE = ("The capital of France is Paris. def f(x):\n    return x ** 2  # 12345 67.89 "
                   "naïve café Ünïcödé — «quotes» 東京 🙂 \t tabs  and   spaces")


def saved_ir_files(entry: "ModelEntry") -> list[Path]:
    folder = entry.load_path.parent
    return [folder / f"openvino_{part}.{ext}" for part in ("model", "tokenizer", "detokenizer") for ext in ("xml", "bin")]


def llm_source(entry: "ModelEntry") -> Path:
    """What openvino_genai opens for a chat model: its folder, or a GGUF (the IR saved beside it, once there)."""
    if entry.format == "gguf" and all(f.is_file() for f in saved_ir_files(entry)):
        return entry.load_path.parent
    return entry.load_path


def check_draft(main: "ModelEntry", draft: "ModelEntry") -> None:
    """Speculative decoding compares the draft's tokens with the model's by id: both must split text
    the same way and end with the same token. Checked on the tokenizers themselves."""
    import openvino_genai as og

    def tokens(entry: "ModelEntry") -> tuple:
        try:
            tokenizer = og.Tokenizer(str(llm_source(entry)))
            ids = tokenizer.encode(TOKENIZER_PROBE, add_special_tokens=False).input_ids.data.tolist()[0]
            return tuple(ids), tokenizer.get_eos_token_id()
        except RuntimeError as err:
            raise ModelLoadError(f"The tokenizer of '{entry.id}' could not be read: {first_line(err)}") from err

    (main_ids, main_eos), (draft_ids, draft_eos) = tokens(main), tokens(draft)
    if main_ids != draft_ids or main_eos != draft_eos:
        what = "splits text into other tokens" if main_ids != draft_ids else "ends replies with another token"
        raise DraftMismatch(f"'{draft.id}' cannot draft for '{main.id}': its tokenizer {what} "
                            f"({len(draft_ids)} tokens for a test sentence that '{main.id}' reads as {len(main_ids)}). "
                            "A draft must come from the same family, with the same tokenizer.")
