"""/v1, the OpenAI-compatible API, with the real `openai` client: the library's models, a reply whole and
streamed (OpenAI's chunks, usage when asked), OpenAI's errors, the key, and a client that leaves mid-stream."""

from __future__ import annotations

import base64
import io
import json
import logging
import time

import httpx
import jsonschema
import openai
import pytest
from PIL import Image

from genai_ui.builtin import BUILTIN_ID
from genai_ui.services import create_services
from genai_ui.settings import Settings
from tests.apps import launched, until
from tests.schemas import PLACE, WEATHER

QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]
SCHEMAS = {"get_weather": WEATHER, "now": {"type": "object", "properties": {}, "additionalProperties": False}}
TOOLS = [{"type": "function", "function": {"name": name, "description": f"{name.replace('_', ' ')} in a city",
                                           "parameters": schema}} for name, schema in SCHEMAS.items()]


@pytest.fixture(scope="module")
def ai(app_url):
    return openai.OpenAI(base_url=f"{app_url}v1", api_key="unused: no key is set on this app", max_retries=0)


def test_the_librarys_models_are_listed_with_their_task(ai):
    models = {m.id: m for m in ai.models.list()}
    assert BUILTIN_ID in models and models[BUILTIN_ID].owned_by == "genai_ui"
    assert models[BUILTIN_ID].model_extra["task"] == "text-generation" and models[BUILTIN_ID].created > 0


def test_a_whole_reply(ai):
    reply = ai.chat.completions.create(model=BUILTIN_ID, messages=QUESTION, temperature=0, max_tokens=24)
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-") and reply.model == BUILTIN_ID
    (choice,) = reply.choices
    assert "Paris" in choice.message.content and choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 10 and 0 < reply.usage.completion_tokens <= 24
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_a_streamed_reply_comes_in_openais_chunks(ai):
    chunks = list(ai.chat.completions.create(model=BUILTIN_ID, messages=QUESTION, temperature=0, max_tokens=40,
                                             stream=True, stream_options={"include_usage": True}))
    assert len({c.id for c in chunks}) == 1 and all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 2 and "Paris" in "".join(pieces)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes in (["stop"], ["length"]) and chunks[-2].choices[0].finish_reason == finishes[0]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 1  # usage last, as asked
    whole = ai.chat.completions.create(model=BUILTIN_ID, messages=QUESTION, temperature=0, max_tokens=40)
    assert "".join(pieces) == whole.choices[0].message.content  # greedy: the same reply either way


def test_a_conversation_carries_its_history(ai):
    """The earlier turns reach the model (a 135M model may not use them well: the prompt's size tells)."""
    last = {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]}
    earlier = [{"role": "user", "content": "My name is Ada Lovelace, and I write programs."},
               {"role": "assistant", "content": "Hello Ada! Nice to meet you."}]
    alone = ai.chat.completions.create(model=BUILTIN_ID, messages=[last], temperature=0, max_tokens=4)
    along = ai.chat.completions.create(model=BUILTIN_ID, messages=earlier + [last], temperature=0, max_tokens=4)
    assert along.usage.prompt_tokens >= alone.usage.prompt_tokens + 15


@pytest.mark.parametrize("kwargs, error, param, says", [
    (dict(model="no-such-model"), openai.NotFoundError, "model", "No model 'no-such-model' in the library"),
    (dict(temperature=5), openai.BadRequestError, None, "temperature"),
    (dict(max_tokens=0), openai.BadRequestError, None, "max_new_tokens"),
    (dict(n=2), openai.BadRequestError, "n", "'n' must be 1"),
    (dict(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]),
     openai.BadRequestError, "tools[0].function.parameters", "not a valid JSON Schema"),
    (dict(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}}}), openai.BadRequestError, None,
     "The engine cannot hold a reply to this schema: Cannot find field nowhere"),
    (dict(messages=[{"role": "assistant", "content": "Hi"}]), openai.BadRequestError, "messages",
     "The last message must be the user's"),
    (dict(messages=[{"role": "user", "content": "  "}]), openai.BadRequestError, None, "Type a message first"),
    (dict(extra_body={"bogus": 1}), openai.BadRequestError, "bogus", "Unknown parameter 'bogus'"),
])
def test_bad_requests_get_openais_errors(ai, kwargs, error, param, says):
    ask = {"model": BUILTIN_ID, "messages": QUESTION, **kwargs}
    with pytest.raises(error) as caught:
        ai.chat.completions.create(**ask)
    body = caught.value.body
    assert says in body["message"] and body["type"] == "invalid_request_error", body
    assert param is None or body["param"] == param, body


def test_a_neutral_value_of_an_unsupported_parameter_is_accepted(ai):
    reply = ai.chat.completions.create(model=BUILTIN_ID, messages=QUESTION, temperature=0, max_tokens=8, stop=None,
                                       presence_penalty=0, tools=[], response_format={"type": "text"}, user="u1",
                                       logprobs=False, extra_body={"functions": []})
    assert reply.choices[0].message.content


def test_a_json_schema_reply_validates(ai):
    ask = dict(model=BUILTIN_ID, temperature=0, max_tokens=80, messages=[
        {"role": "user", "content": "Where is the Eiffel Tower? Answer as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": PLACE, "strict": True}})
    whole = ai.chat.completions.create(**ask)
    jsonschema.validate(json.loads(whole.choices[0].message.content), PLACE)
    streamed = "".join(c.choices[0].delta.content or "" for c in ai.chat.completions.create(**ask, stream=True)
                       if c.choices)
    assert json.loads(streamed) == json.loads(whole.choices[0].message.content)
    anything = ai.chat.completions.create(model=BUILTIN_ID, temperature=0, max_tokens=120, messages=[
        {"role": "user", "content": "What is 2 + 2? Reply in JSON."}], response_format={"type": "json_object"})
    assert anything.choices[0].finish_reason == "stop", anything.choices[0].message.content
    assert isinstance(json.loads(anything.choices[0].message.content), dict)


def test_a_required_tool_call_has_arguments_that_validate(ai):
    ask = dict(model=BUILTIN_ID, temperature=0, max_tokens=80, tools=TOOLS, tool_choice="required",
               parallel_tool_calls=False, messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    whole = ai.chat.completions.create(**ask)
    (choice,) = whole.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (required,) = choice.message.tool_calls
    assert required.id.startswith("call_") and required.type == "function"
    assert required.function.name in ("get_weather", "now")
    jsonschema.validate(json.loads(required.function.arguments), SCHEMAS[required.function.name])
    weather = {"type": "function", "function": {"name": "get_weather"}}
    named = ai.chat.completions.create(**{**ask, "tool_choice": weather})
    (call,) = named.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)
    several = ai.chat.completions.create(**{**ask, "parallel_tool_calls": True, "max_tokens": 1000})
    calls = [(c.function.name, c.function.arguments) for c in several.choices[0].message.tool_calls]
    assert calls and len(set(calls)) == len(calls), calls  # each call once
    assert several.usage.completion_tokens < 1000, "a reply that repeats its calls is stopped there"
    chunks = list(ai.chat.completions.create(**ask, stream=True))
    parts = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert parts[0].id.startswith("call_") and all(p.index == 0 for p in parts)
    assert (parts[0].function.name, "".join(p.function.arguments for p in parts)) == \
        (required.function.name, required.function.arguments)  # greedy: the same call, streamed or whole
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_tool_results_go_back_to_the_model(ai):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                            "arguments": '{"city": "Paris", "unit": "celsius"}'}}
    asked = [{"role": "user", "content": "What is the weather in Paris?"}]
    answered = asked + [{"role": "assistant", "content": None, "tool_calls": [call]},
                        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 24 degrees celsius."}]
    before = ai.chat.completions.create(model=BUILTIN_ID, messages=asked, tools=TOOLS, tool_choice="none",
                                        temperature=0, max_tokens=4)
    after = ai.chat.completions.create(model=BUILTIN_ID, messages=answered, tools=TOOLS, tool_choice="none",
                                       temperature=0, max_tokens=40)
    assert after.choices[0].message.content and after.choices[0].message.tool_calls is None
    assert after.usage.prompt_tokens >= before.usage.prompt_tokens + 25  # the call and its result were read


def test_a_stop_sequence_ends_the_reply_before_it(ai):
    free = ai.chat.completions.create(model=BUILTIN_ID, messages=QUESTION, temperature=0, max_tokens=30)
    assert "Paris" in free.choices[0].message.content
    stopped = ai.chat.completions.create(model=BUILTIN_ID, messages=QUESTION, temperature=0, max_tokens=30,
                                         stop=["Paris"])
    text = stopped.choices[0].message.content
    assert "Paris" not in text and free.choices[0].message.content.startswith(text)
    assert stopped.choices[0].finish_reason == "stop"


def test_broken_and_oversized_bodies(app_url):
    broken = httpx.post(f"{app_url}v1/chat/completions", content=b"{not json", timeout=30)
    assert broken.status_code == 400 and broken.json()["error"]["message"] == "The request body is not JSON."
    huge = httpx.post(f"{app_url}v1/chat/completions", content=b" " * (17 * 2**20), timeout=30)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"


def test_without_a_key_a_request_through_a_proxy_is_refused(app_url):
    """No key set: /v1 is this machine's own user's. A request that came through a proxy is someone else's."""
    refused = httpx.get(f"{app_url}v1/models", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert "--api-key" in refused.json()["error"]["message"]


def test_with_a_key_only_its_holder_is_answered(tmp_path, gguf):
    services = create_services(Settings(home=tmp_path, device="CPU", offline=True, api_key="sk-local-test",
                                        shared=True))
    with launched(services) as url:
        with pytest.raises(openai.AuthenticationError) as caught:
            openai.OpenAI(base_url=f"{url}v1", api_key="sk-wrong", max_retries=0).models.list()
        assert caught.value.body["code"] == "invalid_api_key" and "sk-local-test" not in str(caught.value.body)
        missing = httpx.post(f"{url}v1/chat/completions", json={"model": BUILTIN_ID, "messages": QUESTION}, timeout=30)
        assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
        models = openai.OpenAI(base_url=f"{url}v1", api_key="sk-local-test", max_retries=0).models.list()
        assert BUILTIN_ID in [m.id for m in models]
        assert "sk-local-test" not in repr(services.settings)


def test_a_client_that_leaves_mid_stream_stops_the_reply(app_url, services, caplog):
    ask = {"model": BUILTIN_ID, "messages": [{"role": "user", "content": "Write a very long story about a sailor."}],
           "max_tokens": 2048, "temperature": 0, "stream": True}
    with caplog.at_level(logging.INFO, logger="genai_ui"):
        with httpx.Client(timeout=120) as http, http.stream("POST", f"{app_url}v1/chat/completions", json=ask) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data:") and json.loads(line[5:])["choices"][0]["delta"].get("content"):
                    break  # leaving after the first words: the connection closes
        # the engine's thread stops, then the reply says why: on a busy machine (the other test process) that
        # comes after the reply has left the service's count, so both are waited for, at this log level
        until(lambda: any("its reader went away" in r.getMessage() for r in caplog.records),
              "no reply said it stopped for its reader leaving")
        until(lambda: services.chat._replying == 0, "the reply is still streaming")
    assert services.chat._replying == 0, "the reply is still streaming"
    assert any("its reader went away" in r.getMessage() for r in caplog.records), caplog.text


def test_a_history_over_the_bounds_is_refused_with_the_bound(ai):
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": "Hello"} for i in range(1_002)]
    with pytest.raises(openai.BadRequestError) as caught:
        ai.chat.completions.create(model=BUILTIN_ID, messages=turns + [{"role": "user", "content": "Hi"}])
    assert "the limit is 1,000" in caught.value.body["message"], caught.value.body


def test_an_image_generation_comes_back_as_base64_and_as_a_url(ai, image_model):
    made = ai.images.generate(model=image_model.id, prompt="a red lighthouse", size="64x96", n=2,
                              response_format="b64_json", extra_body={"steps": 2, "seed": 7})
    assert len(made.data) == 2 and made.created > 0
    pictures = [Image.open(io.BytesIO(base64.b64decode(d.b64_json))) for d in made.data]
    assert all(p.format == "PNG" and p.size == (64, 96) for p in pictures)
    assert json.loads(pictures[0].text["genai_ui"])["seed"] == 7  # the PNG carries what made it
    linked = ai.images.generate(model=image_model.id, prompt="a red lighthouse", size="64x96",
                                response_format="url", extra_body={"steps": 2, "seed": 7, "output_format": "jpeg"})
    fetched = httpx.get(linked.data[0].url, timeout=30)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(fetched.content)).size == (64, 96)
    guessed = httpx.get(linked.data[0].url.rsplit("/", 1)[0] + "/not-an-image.png", timeout=30)
    assert guessed.status_code == 404 and guessed.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("kwargs, param, says", [
    (dict(size="65x64"), "size", "width must be a multiple of"),
    (dict(size="big"), "size", "WIDTHxHEIGHT"),
    (dict(n=9), "n", "n must be at least 1 and at most 8"),
    (dict(prompt=" "), "prompt", "the prompt is empty"),
    (dict(extra_body={"stream": True}), "stream", "images come whole"),
    (dict(model=BUILTIN_ID), "model", "text-generation"),
])
def test_bad_image_requests_get_openais_errors(ai, image_model, kwargs, param, says):
    ask = {"model": image_model.id, "prompt": "a lighthouse", "size": "64x64", **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        ai.images.generate(**ask)
    assert says in caught.value.body["message"] and caught.value.body["param"] == param, caught.value.body


def test_a_text_completion_goes_on_from_the_prompt_as_it_is(ai):
    whole = ai.completions.create(model=BUILTIN_ID, prompt="The capital of France is", max_tokens=8, temperature=0)
    (choice,) = whole.choices
    assert whole.object == "text_completion" and whole.id.startswith("cmpl-") and "Paris" in choice.text, choice
    assert choice.finish_reason in ("stop", "length") and 0 < whole.usage.completion_tokens <= 8
    assert whole.usage.prompt_tokens <= 8, "no chat template around the prompt"
    chunks = list(ai.completions.create(model=BUILTIN_ID, prompt="The capital of France is", max_tokens=8,
                                        temperature=0, stream=True, echo=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "The capital of France is" + choice.text  # echo: the prompt first; greedy: the same text
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    with pytest.raises(openai.BadRequestError) as caught:
        ai.completions.create(model=BUILTIN_ID, prompt="x", suffix="y")
    assert caught.value.body["param"] == "suffix"


def data_url(color: str, size=(64, 48)) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def test_a_vision_message_with_an_image_goes_to_the_vision_model(ai, vision_model):
    """The tiny random LLaVA says nothing sensible: that the image reached it is in the prompt's tokens."""
    question = {"type": "text", "text": "What color is this?"}
    asked = [{"role": "user", "content": [question, {"type": "image_url", "image_url": {"url": data_url("red")}}]}]
    with_image = ai.chat.completions.create(model=vision_model.id, temperature=0, max_tokens=8, messages=asked)
    without = ai.chat.completions.create(model=vision_model.id, temperature=0, max_tokens=8,
                                         messages=[{"role": "user", "content": [question]}])
    assert with_image.choices[0].message.content and with_image.usage.completion_tokens > 0
    assert with_image.usage.prompt_tokens > without.usage.prompt_tokens + 10  # the image's tokens
    streamed = list(ai.chat.completions.create(model=vision_model.id, temperature=0, max_tokens=8, stream=True,
                                               messages=asked))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == \
        with_image.choices[0].message.content


@pytest.mark.parametrize("url, says", [
    ("https://example.com/cat.png", "does not fetch web addresses"),
    ("data:image/png;base64,!!!", "not base64"),
    ("data:image/png;base64," + base64.b64encode(b"not an image").decode(), "is not an image this app can read"),
])
def test_bad_images_get_openais_errors(ai, vision_model, url, says):
    with pytest.raises(openai.BadRequestError) as caught:
        ai.chat.completions.create(model=vision_model.id, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": url}}]}])
    assert says in caught.value.body["message"], caught.value.body


def test_an_image_for_a_text_model_is_refused_with_the_models_task(ai):
    with pytest.raises(openai.BadRequestError) as caught:
        ai.chat.completions.create(model=BUILTIN_ID, messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": data_url("red")}}]}])
    assert "is a text-generation model; this needs an image-text-to-text model" in caught.value.body["message"]
    assert caught.value.body["param"] == "model"


def test_a_v1_reply_and_a_pages_reply_run_in_the_same_batch(ai, client):
    """Each has its first token before the other has its last: served together, not one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    story = "Write a long story about a lighthouse keeper."

    def over_v1():
        begun = None
        for chunk in ai.chat.completions.create(model=BUILTIN_ID, temperature=0, max_tokens=160, stream=True,
                                                messages=[{"role": "user", "content": story}]):
            if chunk.choices and chunk.choices[0].delta.content:
                begun = begun or time.monotonic()
        return begun, time.monotonic()

    def over_the_page():
        begun = None
        for _ in client.submit(story, [], "", "", 160, 0.0, api_name="/chat"):
            begun = begun or time.monotonic()
        return begun, time.monotonic()

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(over_v1), pool.submit(over_the_page)]
        (v1_first, v1_last), (page_first, page_last) = (r.result(timeout=300) for r in runs)
    assert v1_first < page_last and page_first < v1_last, (v1_first, v1_last, page_first, page_last)


def test_nan_and_infinity_are_refused_as_json_has_neither(app_url):
    for body in (b'{"model": "m", "messages": [], "max_tokens": Infinity}',
                 b'{"model": "m", "prompt": "x", "steps": NaN}'):
        for route in ("chat/completions", "images/generations"):
            answer = httpx.post(f"{app_url}v1/{route}", content=body, timeout=30)
            assert answer.status_code == 400 and "not a number JSON has" in answer.json()["error"]["message"]


def test_tools_reach_a_vision_models_prompt(ai, vision_model):
    """The tools' description goes into a vision model's system prompt too. The tiny LLaVA reads 512 tokens and its
    tokenizer splits text finely: the question alone is answered, and with a tool it is over the context, which
    is said with the tokens counted, the tools' included."""
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    alone = ai.chat.completions.create(model=vision_model.id, temperature=0, max_tokens=8, messages=question)
    assert alone.usage.prompt_tokens < 100
    with pytest.raises(openai.BadRequestError) as caught:
        ai.chat.completions.create(model=vision_model.id, temperature=0, max_tokens=8, messages=question,
                                   tools=TOOLS[:1], tool_choice="required")
    assert "this model reads at most 512" in caught.value.body["message"], caught.value.body
