"""The protocol every chat engine implements (batching, stateful, Optimum Intel), and what one reply produced.

The chat path (engines/llm.py) knows only this: it counts tokens to fit the context, fills the
engine's generation config, and calls `chat(messages, config, streamer)`, the one streaming
method; it never asks which engine it has. Adding an engine is implementing this protocol and
choosing it in engines/pipelines.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

Streamer = Callable[[str], Any]  # takes each new piece of text; CANCEL or STOP ends the reply in the engine


@dataclass(frozen=True)
class Outcome:
    """What one reply produced, measured where its caller saw the tokens."""
    ttft_ms: float
    tokens_per_s: float
    input_tokens: int
    output_tokens: int
    finish: str  # "stop", "length", "cancelled"
    accepted_tokens: int | None = None  # with speculative decoding or prompt lookup: proposed tokens the model kept


class ChatEngine(Protocol):
    engine: str  # "genai" (openvino_genai) or "optimum" (optimum-intel): what /benchmark reports
    label: str  # said under each reply when it is not openvino_genai's own engine
    concurrent: bool  # serves several replies at once: the pipeline manager gives it no lock

    def get_generation_config(self) -> Any:
        """A fresh openvino_genai GenerationConfig, with the model's own defaults (its eos ids)."""

    def count_tokens(self, messages: list[dict]) -> int:
        """The conversation's tokens as the model reads it, with its chat template."""

    def text_tokens(self, text: str) -> int:
        """A text's own tokens, without any template."""

    def chat(self, messages: list[dict], config: Any, streamer: Streamer) -> Outcome:
        """Answer the conversation ({role, content} dicts), streaming the reply's text through `streamer`."""

    def complete(self, prompt: str, config: Any, streamer: Streamer) -> Outcome:
        """Go on from `prompt` as it is, without the chat template (OpenAI's /v1/completions)."""

    def close(self, wait: float = 0.0) -> None:
        """Let the model go: the replies still running finish first, for at most `wait` seconds."""


def prompt_ids(tokenizer: Any, messages: list[dict]) -> Any:
    """The conversation as the model reads it (its chat template), as LLMPipeline builds it."""
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    return tokenizer.encode(prompt, add_special_tokens=False).input_ids


def text_ids(tokenizer: Any, text: str) -> Any:
    """A prompt as it is, with the special tokens the model puts at the start of any text (its BOS)."""
    return tokenizer.encode(text).input_ids


def count_tokens(tokenizer: Any, messages: list[dict]) -> int:
    """With openvino_genai's own tokenizer: the conversation's tokens, template included."""
    return int(prompt_ids(tokenizer, messages).get_shape()[1])


def text_tokens(tokenizer: Any, text: str) -> int:
    """With openvino_genai's own tokenizer: a text's own tokens, without any template."""
    return int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])


class GenaiTokens:
    """count_tokens and text_tokens for an engine built on openvino_genai, whose tokenizer is `self.tokenizer`."""

    tokenizer: Any

    def count_tokens(self, messages: list[dict]) -> int:
        return count_tokens(self.tokenizer, messages)

    def text_tokens(self, text: str) -> int:
        return text_tokens(self.tokenizer, text)


def finish_of(output_tokens: int, max_new_tokens: int, stopped: bool) -> str:
    return "cancelled" if stopped else "length" if output_tokens >= max_new_tokens else "stop"


def outcome_of(result: Any, max_new_tokens: int) -> Outcome:
    """An Outcome from the results of openvino_genai's LLMPipeline or VLMPipeline, which measure themselves."""
    import openvino_genai as og

    pm = result.perf_metrics
    extended = getattr(result, "extended_perf_metrics", None)  # LLMPipeline with a draft (on an NPU)
    accepted = extended.get_num_accepted_tokens() if hasattr(extended, "get_num_accepted_tokens") else None
    out = pm.get_num_generated_tokens()
    reason = result.finish_reasons[0] if getattr(result, "finish_reasons", None) else None
    finish = "length" if reason == og.GenerationFinishReason.LENGTH else finish_of(out, max_new_tokens, False)
    return Outcome(ttft_ms=pm.get_ttft().mean, tokens_per_s=pm.get_throughput().mean if out > 1 else 0.0,
                   input_tokens=pm.get_num_input_tokens(), output_tokens=out, finish=finish, accepted_tokens=accepted)
