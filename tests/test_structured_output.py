"""A reply held to a shape in the real engine: JSON that validates against its schema, tool calls whose
arguments validate against the function's, stop sequences, the penalties; and a schema the engine
cannot compile fails only its own reply, never the others running beside it."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import pytest

from genai_ui.engines.llm import GenerationParams
from genai_ui.engines.structured import Structure, json_schema, split_calls, tool
from genai_ui.errors import InvalidParameter
from tests.schemas import PLACE, WEATHER


def greedy(**kwargs) -> GenerationParams:
    return GenerationParams(max_new_tokens=kwargs.pop("max_new_tokens", 80), temperature=0.0, **kwargs)


def answer(services, message: str, params: GenerationParams, **kwargs) -> tuple[str, object]:
    *_, last = services.chat.reply(message=message, params=params, **kwargs)
    return last.text, last.metrics


def test_a_json_reply_validates_against_its_schema(services):
    shape = Structure(json_schema=json_schema(PLACE, "schema"))
    text, _ = answer(services, "Where is the Eiffel Tower? Answer as JSON.", greedy(structure=shape))
    jsonschema.validate(json.loads(text), PLACE)


def test_a_required_call_has_arguments_that_validate(services):
    tools = (tool("get_weather", "The weather in a city", WEATHER, "tools[0]"),
             tool("get_time", "The time in a city", {"type": "object", "properties": {}}, "tools[1]"))
    for choice in ("required", "get_weather"):
        shape = Structure(tools=tools, choice=choice, parallel=False)
        text, _ = answer(services, "What is the weather in Paris?", greedy(structure=shape))
        content, calls = split_calls(text, final=True)
        assert len(calls) == 1 and content == "", text
        assert choice == "required" or calls[0].name == "get_weather"
        if calls[0].name == "get_weather":
            jsonschema.validate(json.loads(calls[0].arguments), WEATHER)


def test_a_stop_sequence_ends_the_reply_before_it(services):
    message = "What is the capital of France?"
    free, _ = answer(services, message, greedy(max_new_tokens=40))
    assert "Paris" in free
    stopped, metrics = answer(services, message, greedy(max_new_tokens=40, stop=("Paris",)))
    assert free.startswith(stopped) and "Paris" not in stopped and metrics.finish == "stop", (free, stopped)


def test_penalties_reach_the_engine(services):
    message = "List the colors of the rainbow, many times over."
    plain, _ = answer(services, message, greedy(max_new_tokens=60))
    penalized, _ = answer(services, message, greedy(max_new_tokens=60, frequency_penalty=2.0, presence_penalty=2.0))
    assert plain != penalized


def test_a_schema_the_engine_cannot_compile_fails_only_its_own_reply(services):
    """A valid JSON Schema that xgrammar cannot compile (a $ref to nowhere) fails the step that compiles it,
    with every reply in it: a new grammar runs alone first, so the reply streaming beside it goes on."""
    broken = Structure(json_schema=json_schema({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}},
                                               "schema"))
    streaming = threading.Event()

    def long_reply():
        params = GenerationParams(max_new_tokens=60, temperature=0.0, ignore_eos=True)
        for update in services.chat.reply(message="Tell me a story about the sea.", params=params):
            streaming.set()
        return update.metrics

    with ThreadPoolExecutor(max_workers=1) as pool:
        story = pool.submit(long_reply)
        assert streaming.wait(120)
        with pytest.raises(InvalidParameter, match="cannot hold a reply to this schema"):
            answer(services, "Give me JSON.", greedy(structure=broken))
        metrics = story.result(timeout=300)
    assert metrics.finish == "length" and metrics.output_tokens == 60
    # the engine goes on: the same broken schema again fails alone, and a good one runs
    with pytest.raises(InvalidParameter):
        answer(services, "Give me JSON.", greedy(structure=broken))
    text, _ = answer(services, "Where is the Colosseum?", greedy(structure=Structure(json_schema=json_schema(
        PLACE, "schema"))))
    jsonschema.validate(json.loads(text), PLACE)


def test_a_proven_grammar_joins_the_running_replies(services):
    """Once the engine has compiled a schema, a reply held to it is batched with the others."""
    shape = Structure(json_schema=json_schema(PLACE, "schema"))
    answer(services, "Where is Big Ben?", greedy(structure=shape))  # compiles it
    params = GenerationParams(max_new_tokens=200, temperature=0.0, ignore_eos=True)
    spans = {}

    streaming = threading.Event()

    def reply(name: str, message: str, params: GenerationParams) -> None:
        begun = None
        for update in services.chat.reply(message=message, params=params):
            begun = begun or time.monotonic()
            streaming.set()
        spans[name] = (begun, time.monotonic())

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(reply, "story", "Tell me a story.", params)]
        assert streaming.wait(120)
        runs.append(pool.submit(reply, "json", "Where is the Louvre?", greedy(structure=shape, max_new_tokens=40)))
        for run in runs:
            run.result(timeout=300)
    assert spans["json"][0] < spans["story"][1], spans  # its first token came while the story streamed
