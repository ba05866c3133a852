"""/v1/chat/completions' request read and checked without an engine: OpenAI's messages and parameters into the
ChatService's, each refusal naming its parameter, and the reply's objects in OpenAI's shape."""

import base64
import json

import pytest

from genai_ui.engines.llm import ChatMetrics
from genai_ui.engines.structured import Call, repeats, split_calls, tools_prompt
from genai_ui.errors import InvalidParameter
from genai_ui.v1.chat import (
    IGNORED,
    REFUSED,
    Deltas,
    chunk,
    completion,
    read_chat_request,
    read_completion_request,
    usage_chunk,
)
from genai_ui.v1.images import ImageFiles, read_image_request
from genai_ui.v1.snippets import PLACEHOLDER_KEY, access, base_url, snippets

ASK = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}
NOW = {"type": "function", "function": {"name": "now"}}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
DEEP: dict = {"type": "object"}
for _ in range(200):
    DEEP = {"type": "object", "properties": {"a": DEEP}}


def test_messages_become_a_system_prompt_a_history_and_the_message():
    ask = read_chat_request({**ASK, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": [{"type": "text", "text": "Paris?"}, {"type": "text", "text": "Lyon?"}]}]})
    assert ask.system_prompt == "Be brief.\n\nAnswer in French." and ask.message == "Paris?\nLyon?"
    assert ask.history == [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Bonjour"}]


def test_openais_defaults_and_parameters():
    ask = read_chat_request(ASK)
    assert (ask.params.temperature, ask.params.top_p, ask.params.top_k, ask.params.seed) == (1.0, 1.0, 0, -1)
    assert ask.params.max_new_tokens == 2048 and not ask.stream and not ask.include_usage
    ask = read_chat_request({**ASK, "max_completion_tokens": 7, "max_tokens": 9, "temperature": 0, "top_p": 0.5,
                             "seed": 42, "stream": True, "stream_options": {"include_usage": True}})
    assert (ask.params.max_new_tokens, ask.params.temperature, ask.params.top_p, ask.params.seed) == (7, 0.0, 0.5, 42)
    assert ask.stream and ask.include_usage


@pytest.mark.parametrize("change, param, says", [
    ({"model": ""}, "model", "'model' is required"),
    ({"messages": []}, "messages", "non-empty list"),
    ({"messages": [{"role": "robot", "content": "42"}]}, "messages[0].role", "needs a role of"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0].image_url.url", "does not fetch web addresses"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
     "messages[0].content", "text and image_url parts"),
    ({"messages": [{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "data:;base64,"}}]},
                   {"role": "user", "content": "Hi"}]}, "messages[0].content", "in the user's messages"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "a string or a list"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "up to 4 texts"),
    ({"stop": [""]}, "stop", "1 to 256 characters"),
    ({"presence_penalty": 3}, "presence_penalty", "from -2 to 2"),
    ({"frequency_penalty": "x"}, "frequency_penalty", "must be a number"),
    ({"response_format": {"type": "xml"}}, "response_format.type", "text, json_object or json_schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format.json_schema",
     "under 'schema'"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}},
     "response_format.json_schema.schema", "not a valid JSON Schema"),
    ({"tools": [{"type": "function", "function": {"name": "get weather"}}]}, "tools[0].function.name",
     "letters, digits"),
    ({"tools": [{"type": "retrieval"}]}, "tools[0]", "type: 'function'"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]},
     "tools[0].function.parameters", "not a valid JSON Schema"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}] * 2}, "tools", "the same name"),
    ({"tool_choice": "required"}, "tool_choice", "needs 'tools'"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "function", "function": {"name": "g"}}}, "tool_choice", "not one of the tools"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}], "response_format": {"type": "json_object"}},
     "response_format", "either JSON"),
    ({"functions": [{"name": "f"}]}, "functions", "deprecated: send 'tools'"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]},
                   {"role": "user", "content": "Hi"}]}, "messages[0].tool_calls[0]", "arguments as JSON"),
    ({"logprobs": True}, "logprobs", "no log probabilities"),
    ({"temperature": "hot"}, "temperature", "must be a number"),
    ({"max_tokens": 1.5}, "max_tokens", "whole number"),
    ({"seed": 2**40}, "seed", "from 0 to 4294967295"),
    ({"stream": "yes"}, "stream", "true or false"),
    ({"n": 3}, "n", "'n' must be 1"),
    ({"max_tokens": float("inf")}, "max_tokens", "must be a number"),
    ({"temperature": float("nan")}, "temperature", "must be a number"),
    ({"messages": [{"role": "assistant", "tool_calls": 5}, {"role": "user", "content": "Hi"}]},
     "messages[0].tool_calls", "must be a list"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": DEEP}}},
     "response_format.json_schema.schema", "nested too deeply"),
    ({"messages": [{"role": "user", "content": [IMAGE] * 8}, {"role": "assistant", "content": "?"},
                   {"role": "user", "content": [IMAGE] * 8}, {"role": "assistant", "content": "?"},
                   {"role": "user", "content": [IMAGE]}]}, "messages", "17 images; up to 16"),
    ({"frobnicate": 1}, "frobnicate", "Unknown parameter"),
])
def test_each_refusal_names_its_parameter(change, param, says):
    with pytest.raises(InvalidParameter, match=says) as caught:
        read_chat_request({**ASK, **change})
    assert caught.value.param == param


def test_image_parts_are_kept_with_their_messages():
    url = "data:image/png;base64," + base64.b64encode(b"first").decode()
    image = {"type": "image_url", "image_url": {"url": url}}
    ask = read_chat_request({**ASK, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "And this?"}, image]},
        {"role": "assistant", "content": "Red."},
        {"role": "user", "content": [image, {"type": "text", "text": "Now?"}]}]})
    assert ask.images == ((b"first",), (), (b"first",)) and ask.message == "Now?"
    assert [(m["role"], m["content"], m["images"]) for m in ask.vision_messages(lambda data, name: name)] == [
        ("user", "And this?", ["image 1"]), ("assistant", "Red.", []), ("user", "Now?", ["image 2"])]
    assert read_chat_request(ASK).images == ()


def test_stop_penalties_and_json_reach_the_engines_parameters():
    ask = read_chat_request({**ASK, "stop": "\n\n", "presence_penalty": 0.5, "frequency_penalty": -1})
    assert ask.params.stop == ("\n\n",) and (ask.params.presence_penalty, ask.params.frequency_penalty) == (0.5, -1)
    assert ask.params.structure is None
    assert read_chat_request({**ASK, "response_format": {"type": "json_object"}}).params.structure.json_schema \
        == '{"type":"object"}'
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    ask = read_chat_request({**ASK, "response_format": {"type": "json_schema", "json_schema": {
        "name": "place", "schema": schema, "strict": True}}})
    assert json.loads(ask.params.structure.json_schema) == schema and not ask.params.structure.calls


def test_tools_become_a_structure_and_the_system_prompt_says_how_to_call():
    tools = [WEATHER, NOW]
    ask = read_chat_request({**ASK, "tools": tools})
    shape = ask.params.structure
    assert [t.name for t in shape.tools] == ["get_weather", "now"] and shape.choice == "auto" and shape.parallel
    assert json.loads(shape.tools[1].parameters) == {"type": "object", "properties": {}}
    named = read_chat_request({**ASK, "tools": tools, "parallel_tool_calls": False,
                               "tool_choice": {"type": "function", "function": {"name": "now"}}}).params.structure
    assert named.choice == "now" and not named.parallel
    assert read_chat_request({**ASK, "tools": tools, "tool_choice": "required"}).params.structure.choice == "required"
    assert read_chat_request({**ASK, "tools": tools, "tool_choice": "none"}).params.structure is None
    assert "<tools>" in tools_prompt(shape.tools) and '"name": "get_weather"' in tools_prompt(shape.tools)


def test_an_earlier_call_and_its_results_are_written_as_the_model_reads_them():
    ask = read_chat_request({**ASK, "tools": [WEATHER], "messages": [
        {"role": "user", "content": "Weather in Paris and Lyon?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Lyon"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "21 C"}]})
    assert [m["role"] for m in ask.history] == ["user", "assistant"]
    assert ask.history[1]["content"] == ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
                                         '</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": '
                                         '{"city": "Lyon"}}\n</tool_call>')
    assert ask.message == "<tool_response>\n18 C\n</tool_response>\n<tool_response>\n21 C\n</tool_response>"


def test_calls_are_read_back_whole_and_streamed_as_openai_streams_them():
    text = 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n' \
           '<tool_call>{"name": "now", "arguments": {}}</tool_call>'
    assert split_calls(text, final=True) == ("Let me look.", [Call("get_weather", '{"city": "Paris"}'),
                                                              Call("now", "{}")])
    assert split_calls("Hello <tool", final=False) == ("Hello", [])  # may become a call: held back
    assert not repeats(text) and repeats(text + "\n" + text[text.index("<tool_call>"):])
    assert split_calls(text + text, final=True) == split_calls(text, final=True)  # each call once
    assert split_calls("Hello <tool", final=True) == ("Hello <tool", [])
    shape = read_chat_request({**ASK, "tools": [WEATHER, NOW]}).params.structure
    deltas, sent = Deltas(shape), []
    for end in range(1, len(text) + 1, 7):
        sent += deltas.feed(text[:end])
    sent += deltas.feed(text, final=True)
    assert "".join(d.get("content", "") for d in sent) == "Let me look."
    calls = [d["tool_calls"][0] for d in sent if "tool_calls" in d]
    assert [(c["index"], c.get("id", "")[:5], c["function"]) for c in calls] == [
        (0, "call_", {"name": "get_weather", "arguments": ""}), (0, "", {"arguments": '{"city": "Paris"}'}),
        (1, "call_", {"name": "now", "arguments": ""}), (1, "", {"arguments": "{}"})]
    whole = completion("c", "m", text, None, shape)
    assert whole["choices"][0]["finish_reason"] == "tool_calls" and whole["choices"][0]["message"]["content"] == \
        "Let me look." and [c["function"]["name"] for c in whole["choices"][0]["message"]["tool_calls"]] == \
        ["get_weather", "now"]


def test_ignored_and_neutral_parameters_are_accepted():
    ask = read_chat_request({**ASK, **{name: "x" for name in IGNORED}, "tools": [], "tool_choice": "none",
                             "functions": [], "function_call": "none",
                             "stop": None, "presence_penalty": 0, "frequency_penalty": 0.0, "logprobs": False,
                             "response_format": {"type": "text"}, "n": 1})
    assert ask.message == "Hi"
    assert not set(IGNORED) & set(REFUSED)  # a parameter is either, never both


def test_the_replys_objects_are_openais():
    metrics = ChatMetrics(ttft_ms=5, tokens_per_s=50, input_tokens=12, output_tokens=3, finish="length")
    whole = completion("chatcmpl-1", "m", "Paris.", metrics)
    assert whole["choices"][0]["finish_reason"] == "length" and whole["choices"][0]["message"]["content"] == "Paris."
    assert whole["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert chunk("c", "m", 1, {"content": "P"})["choices"][0] == {"index": 0, "delta": {"content": "P"},
                                                                  "logprobs": None, "finish_reason": None}
    assert usage_chunk("c", "m", 1, metrics)["choices"] == []


def test_a_completion_request_reads_its_prompt_and_openais_defaults():
    ask = read_completion_request({"model": "m", "prompt": ["Once upon a time"], "echo": True, "stop": "\n"})
    assert (ask.prompt, ask.echo, ask.params.max_new_tokens, ask.params.stop) == ("Once upon a time", True, 16,
                                                                                  ("\n",))
    for change, param in (({"prompt": [1, 2, 3]}, "prompt"), ({"suffix": "end"}, "suffix"), ({"best_of": 2}, "best_of"),
                          ({"tools": []}, "tools"), ({"logprobs": 2}, "logprobs")):
        with pytest.raises(InvalidParameter) as caught:
            read_completion_request({"model": "m", "prompt": "Hi", **change})
        assert caught.value.param == param
    assert read_completion_request({"model": "m", "prompt": "Hi", "suffix": None, "logprobs": None}).prompt == "Hi"


def test_an_image_request_in_openais_words_becomes_image_params():
    ask = read_image_request({"prompt": "a lighthouse", "model": "sd", "size": "768x512", "n": 2, "quality": "hd",
                              "response_format": "url", "output_format": "webp", "steps": 12, "seed": 3})
    assert (ask.params.width, ask.params.height, ask.params.num_images, ask.params.steps, ask.params.seed) == \
        (768, 512, 2, 12, 3)
    assert ask.as_url and ask.format == "webp" and ask.model == "sd"
    assert read_image_request({"prompt": "a lighthouse", "size": "auto"}).params.width == 512
    for change, param in (({"size": "4096x4096"}, "size"), ({"n": 0}, "n"), ({"response_format": "file"},
                          "response_format"), ({"stream": True}, "stream"), ({"steps": 500}, "steps"),
                          ({"prompt": ""}, "prompt"), ({"colour": "red"}, "colour")):
        with pytest.raises(InvalidParameter) as caught:
            read_image_request({"prompt": "a lighthouse", **change})
        assert caught.value.param == param, (change, caught.value)


def test_image_files_expire_and_stay_within_their_bytes():
    files = ImageFiles(limit=10)
    first = files.keep(b"123456", "image/png", "png")
    second = files.keep(b"abcdef", "image/png", "png")  # over the limit together: the oldest goes
    assert files.get(first) is None and files.get(second) == (b"abcdef", "image/png")
    assert len(second) > 40 and files.get("guess.png") is None
    files.TTL_S = -1
    assert files.get(files.keep(b"x", "image/png", "png")) is None


def test_the_api_tabs_address_and_code_follow_the_visitor():
    assert base_url({"referer": "https://me-app.hf.space/?__theme=dark", "host": "10.0.0.5:7860"}) == \
        "https://me-app.hf.space/v1"
    assert base_url({"referer": "https://host.example/genai/", "host": "x"}) == "https://host.example/genai/v1"
    assert base_url({"host": "box:7860", "x-forwarded-proto": "https, http"}) == "https://box:7860/v1"
    assert access("", shared=True).on is False and "--api-key" in access("", shared=True).why
    assert access("sk-secret", shared=True) == access("sk-secret", shared=False)
    code = snippets("http://box:7860/v1", "m1", key=True)  # takes whether a key is needed, never the key
    assert all(PLACEHOLDER_KEY in c for c in code.values()) and "sk-secret" not in access("sk-secret", True).why
    assert "Authorization: Bearer" in code["curl"] and '"model": "m1"' in code["curl"]
    for name in ("python", "langchain"):
        compile(code[name], name, "exec")
        compile(snippets("http://box:7860/v1", "", key=False)[name], name, "exec")
