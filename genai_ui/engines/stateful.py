"""The stateful engine: openvino_genai's LLMPipeline, one reply at a time. It runs where the batching engine
cannot (an NPU, a model whose attention cannot be paged) or when asked for (EngineOptions.engine)."""

from __future__ import annotations

from typing import Any

from .engine import GenaiTokens, Outcome, Streamer, outcome_of


class StatefulLLM(GenaiTokens):
    engine = "genai"
    label = ""
    concurrent = False  # one inference request: the pipeline manager's lock serializes replies

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.tokenizer = pipeline.get_tokenizer()

    def get_generation_config(self) -> Any:
        return self.pipeline.get_generation_config()

    def chat(self, messages: list[dict], config: Any, streamer: Streamer) -> Outcome:
        import openvino_genai as og

        # ChatHistory, not start_chat/finish_chat (deprecated): the caller keeps the conversation
        return outcome_of(self.pipeline.generate(og.ChatHistory(messages), config, streamer), config.max_new_tokens)

    def complete(self, prompt: str, config: Any, streamer: Streamer) -> Outcome:
        config.apply_chat_template = False
        return outcome_of(self.pipeline.generate([prompt], config, streamer), config.max_new_tokens)

    def close(self, wait: float = 0.0) -> None:
        """Nothing to stop: the pipeline manager's lock lets the running reply finish first."""
