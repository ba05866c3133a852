"""How a chat model runs: the engine's own speed and memory options, chosen per model.

Speculative decoding (a small draft model proposes tokens the main model checks in one
step), prompt-lookup decoding (the proposals come from the prompt itself), the KV cache's
precision and dynamic quantization's group size (device properties), and the stateful
engine (one reply at a time, its compiled model cached on disk). A change reloads the
model once; the choice is remembered per model, in the app's home.
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

log = logging.getLogger(__name__)

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


class EngineOptionsStore:
    """Each model's options, in one JSON file: read at start, written on each change. A file that
    cannot be read is moved aside, never overwritten, and `notice` says where it went."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notice = ""  # for the UI: what happened to an unreadable file, else ""
        self._lock = threading.Lock()
        self._options: dict[str, EngineOptions] = {}
        try:
            for model_id, values in json.loads(path.read_text()).items():
                self._options[model_id] = EngineOptions.from_api(values)
        except FileNotFoundError:
            pass
        except (ValueError, TypeError, AttributeError, InvalidParameter) as err:
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

    def get(self, model_id: str) -> EngineOptions:
        with self._lock:
            return self._options.get(model_id, EngineOptions())

    def set(self, model_id: str, options: EngineOptions) -> None:
        with self._lock:
            if options == EngineOptions():
                self._options.pop(model_id, None)
            else:
                self._options[model_id] = replace(options, draft_path="")
            data = {k: v.to_api() for k, v in sorted(self._options.items())}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(self.path, json.dumps(data, indent=1))

    def forget(self, model_id: str) -> None:
        """A model deleted from the library: its options go, and it is no longer anyone's draft."""
        with self._lock:
            changed = [k for k, v in self._options.items() if k == model_id or v.draft_model == model_id]
        for k in changed:
            self.set(k, EngineOptions() if k == model_id else replace(self.get(k), draft_model=""))


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
