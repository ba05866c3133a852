"""The chat engines' protocol (engines/engine.py): the chat loop works with any engine that implements it,
shown with an engine queued with answers (as simonw/llm's tests do), and the three real engines implement it.
The real engines themselves are tested on real models in test_chat_engine.py, test_engines.py and
test_many_users.py."""

from __future__ import annotations

import inspect
import threading

import openvino_genai as og

from genai_ui.engines.batching import BatchingLLM
from genai_ui.engines.engine import ChatEngine, Outcome, finish_of
from genai_ui.engines.llm import GenerationParams, stream_chat
from genai_ui.engines.loaded import LoadedPipeline
from genai_ui.engines.optimum import OptimumLLM
from genai_ui.engines.stateful import StatefulLLM
from genai_ui.library import ModelEntry

HALT = (og.StreamingStatus.CANCEL, og.StreamingStatus.STOP)


class QueuedEngine:
    """Answers what it was queued with, a word at a time; counts a word as a token."""

    engine = "queued"
    label = "Queued engine"
    concurrent = False

    def __init__(self, *answers: str, on_word=None) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[list[dict], int]] = []
        self.on_word = on_word or (lambda n: None)
        self.closed = False

    def get_generation_config(self):
        return og.GenerationConfig()

    def count_tokens(self, messages: list[dict]) -> int:
        return sum(self.text_tokens(m["content"]) + 2 for m in messages)

    def text_tokens(self, text: str) -> int:
        return len(text.split())

    def chat(self, messages: list[dict], config, streamer) -> Outcome:
        self.asked.append((messages, config.max_new_tokens))
        sent, stopped = 0, False
        for word in self.answers.pop(0).split()[: config.max_new_tokens]:
            sent += 1
            self.on_word(sent)
            if streamer(("" if sent == 1 else " ") + word) in HALT:
                stopped = True
                break
        return Outcome(ttft_ms=1.0, tokens_per_s=100.0, input_tokens=self.count_tokens(messages), output_tokens=sent,
                       finish=finish_of(sent, config.max_new_tokens, stopped))

    def close(self, wait: float = 0.0) -> None:
        self.closed = True


def loaded(engine, context_length: int | None = None) -> LoadedPipeline:
    entry = ModelEntry(id="queued", task="text-generation", format="openvino", weight_format="int4", location="/nowhere",
                       context_length=context_length)
    return LoadedPipeline(engine, entry, "CPU", load_ms=0.0)


def test_the_chat_loop_streams_any_engine_and_names_it_under_the_reply():
    engine = QueuedEngine("The capital of France is Paris.")
    updates = list(stream_chat(loaded(engine), [{"role": "user", "content": "Capital of France?"}],
                               GenerationParams(max_new_tokens=16), threading.Event(), min_interval=0.0))
    assert updates[-1].text == "The capital of France is Paris."
    assert len(updates) > 2  # it streamed, a word at a time
    metrics = updates[-1].metrics
    assert (metrics.output_tokens, metrics.finish, metrics.engine) == (6, "stop", "Queued engine")
    assert "Queued engine" in metrics.summary()
    assert all(u.metrics is None for u in updates[:-1])


def test_the_context_is_fitted_with_the_engines_own_counts():
    engine = QueuedEngine("Yes.")
    history = [{"role": "user", "content": "word " * 30}, {"role": "assistant", "content": "ok"},
               {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
               {"role": "user", "content": "And now?"}]
    *_, last = stream_chat(loaded(engine, context_length=48), history, GenerationParams(max_new_tokens=8),
                           threading.Event(), min_interval=0.0)
    (asked, max_new), = engine.asked
    assert [m["content"] for m in asked] == ["Hi", "Hello", "And now?"]  # the 30-word turn did not fit
    assert max_new == 8 and last.metrics.dropped_messages == 2


def test_stop_reaches_the_engine_and_the_reply_says_cancelled():
    cancel = threading.Event()
    engine = QueuedEngine("one two three four five six seven eight", on_word=lambda n: n == 3 and cancel.set())
    *_, last = stream_chat(loaded(engine), [{"role": "user", "content": "Count."}], GenerationParams(max_new_tokens=32),
                           cancel, min_interval=0.0)
    assert last.metrics.finish == "cancelled" and last.metrics.output_tokens == 3  # the engine stopped at once
    assert last.text == "one two three"


def test_the_three_engines_implement_the_protocol():
    wanted = {name: inspect.signature(getattr(ChatEngine, name)) for name in
              ("get_generation_config", "count_tokens", "text_tokens", "chat", "close")}
    for engine in (BatchingLLM, StatefulLLM, OptimumLLM, QueuedEngine):
        for name, signature in wanted.items():
            mine = inspect.signature(getattr(engine, name))
            assert list(mine.parameters) == list(signature.parameters), f"{engine.__name__}.{name}{mine}"
        assert {"engine", "label", "concurrent"} <= set(vars(engine)), engine.__name__
    assert OptimumLLM.label == "Optimum Intel engine" and BatchingLLM.label == StatefulLLM.label == ""
    assert BatchingLLM.concurrent and not StatefulLLM.concurrent and not OptimumLLM.concurrent
