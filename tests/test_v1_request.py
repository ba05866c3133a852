"""/v1/chat/completions' request read and checked without an engine: OpenAI's messages and parameters into the
ChatService's, each refusal naming its parameter, and the reply's objects in OpenAI's shape."""

import pytest

from genai_ui.engines.llm import ChatMetrics
from genai_ui.errors import InvalidParameter
from genai_ui.v1.chat import IGNORED, REFUSED, chunk, completion, read_chat_request, usage_chunk

ASK = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


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
    ({"messages": [{"role": "tool", "content": "42"}]}, "messages[0].role", "tool calling"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content", "'image_url' part"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "a string or a list"),
    ({"stop": ["\n"]}, "stop", "stop sequences are not available yet"),
    ({"response_format": {"type": "json_object"}}, "response_format", "structured output"),
    ({"logprobs": True}, "logprobs", "no log probabilities"),
    ({"temperature": "hot"}, "temperature", "must be a number"),
    ({"max_tokens": 1.5}, "max_tokens", "whole number"),
    ({"seed": 2**40}, "seed", "from 0 to 4294967295"),
    ({"stream": "yes"}, "stream", "true or false"),
    ({"n": 3}, "n", "'n' must be 1"),
    ({"frobnicate": 1}, "frobnicate", "Unknown parameter"),
])
def test_each_refusal_names_its_parameter(change, param, says):
    with pytest.raises(InvalidParameter, match=says) as caught:
        read_chat_request({**ASK, **change})
    assert caught.value.param == param


def test_ignored_and_neutral_parameters_are_accepted():
    ask = read_chat_request({**ASK, **{name: "x" for name in IGNORED}, "tools": [], "tool_choice": "none",
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
