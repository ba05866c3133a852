"""The second engine: optimum-intel's OVModelForCausalLM, for chat models openvino_genai cannot run.

openvino_genai is the fast one, but it needs the model's tokenizer as an OpenVINO model and
an attention it can page; optimum-intel runs any model it exported with the Hugging Face
tokenizer in Python (slower: measured in `python -m genai_ui.bench engines`). It implements the
chat engines' protocol (engines/engine.py), one reply at a time (the model has one inference request).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import InvalidParameter
from .engine import Outcome, Streamer, finish_of

LABEL = "Optimum Intel engine"


def needs_optimum(folder: Path) -> str:
    """Why openvino_genai cannot run this exported chat model, or "" when it can try."""
    if folder.is_dir() and not (folder / "openvino_tokenizer.xml").is_file():
        return "it has no OpenVINO tokenizer (openvino_tokenizers could not convert this model's tokenizer)"
    return ""


class OptimumLLM:
    engine = "optimum"
    label = LABEL
    concurrent = False  # one inference request: the pipeline manager's lock serializes replies

    def __init__(self, folder: Path, device: str, properties: dict[str, Any]) -> None:
        """`properties`: OpenVINO's, for the compiled model (KV-cache precision, compile cache, …)."""
        from optimum.intel import OVModelForCausalLM
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = OVModelForCausalLM.from_pretrained(folder, device=device, ov_config=dict(properties))

    def close(self, wait: float = 0.0) -> None:
        """Nothing to stop: the pipeline manager's lock lets the running reply finish first."""

    def get_generation_config(self) -> Any:
        """A carrier for the request's settings, in openvino_genai's type (GenerationParams fills it)."""
        import openvino_genai as og

        return og.GenerationConfig()

    def prompt(self, messages: list[dict]) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    def count_tokens(self, messages: list[dict]) -> int:
        return len(self.tokenizer(self.prompt(messages), add_special_tokens=False).input_ids)

    def text_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def chat(self, messages: list[dict], config: Any, streamer: Streamer) -> Outcome:
        """Stream the reply through `streamer(text)`; one that returns CANCEL or STOP ends it at the next token."""
        return self._generate(self.prompt(messages), False, config, streamer)

    def complete(self, prompt: str, config: Any, streamer: Streamer) -> Outcome:
        return self._generate(prompt, True, config, streamer)

    def _generate(self, prompt: str, special: bool, config: Any, streamer: Streamer) -> Outcome:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        if config.structured_output_config is not None or config.stop_strings or config.presence_penalty \
                or config.frequency_penalty:
            raise InvalidParameter("JSON output, tool calls, stop sequences and presence or frequency penalties run "
                                   "on openvino_genai's engines; this model runs on the Optimum Intel engine.")
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=special)
        feed = _TokenFeed(self.tokenizer, streamer)

        class Stopped(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return feed.stopped

        kwargs: dict[str, Any] = dict(max_new_tokens=config.max_new_tokens, do_sample=config.do_sample,
                                      repetition_penalty=config.repetition_penalty)
        if config.do_sample:
            torch.manual_seed(config.rng_seed)
            kwargs.update(temperature=config.temperature, top_p=config.top_p, top_k=config.top_k or 0)
        if config.ignore_eos:
            kwargs["min_new_tokens"] = config.max_new_tokens
        start = time.perf_counter()
        self.model.generate(**inputs, streamer=feed, stopping_criteria=StoppingCriteriaList([Stopped()]), **kwargs)
        feed.end()
        count = len(feed.times)
        ttft = (feed.times[0] - start) * 1000 if count else 0.0
        speed = (count - 1) / (feed.times[-1] - feed.times[0]) if count > 1 and feed.times[-1] > feed.times[0] else 0.0
        finish = finish_of(count, config.max_new_tokens, feed.stopped)
        return Outcome(ttft, speed, int(inputs.input_ids.shape[1]), count, finish)


class _TokenFeed:
    """transformers' streamer interface: the prompt first (skipped), then each new token; the text
    goes out as it becomes whole (a character split over tokens waits for its last byte)."""

    def __init__(self, tokenizer: Any, streamer: Callable[[str], Any]) -> None:
        import openvino_genai as og

        self._tokenizer, self._streamer = tokenizer, streamer
        self._halt = (og.StreamingStatus.CANCEL, og.StreamingStatus.STOP)
        self._ids: list[int] = []
        self._sent = 0
        self._prompt_seen = False
        self.times: list[float] = []
        self.stopped = False
        self._lock = threading.Lock()

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.times.append(time.perf_counter())
        self._ids.extend(int(t) for t in value.reshape(-1).tolist())
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return
        self._send(text)

    def end(self) -> None:
        self._send(self._tokenizer.decode(self._ids, skip_special_tokens=True))

    def _send(self, text: str) -> None:
        with self._lock:
            piece, self._sent = text[self._sent:], max(self._sent, len(text))
        if piece and not self.stopped and self._streamer(piece) in self._halt:
            self.stopped = True
