"""OpenAI's chat completions on the ChatService: a request read and checked, its reply as OpenAI's objects.

Each OpenAI parameter is accepted, ignored (it changes nothing a reply of this engine could show) or
refused with a 400 that names it; PARAMETERS lists which and why (docs/api.md shows the same table).
"""

from __future__ import annotations

import base64
import math
import time
import uuid
from dataclasses import dataclass

from ..engines.llm import MAX_STOP_CHARS, MAX_STOPS, ChatMetrics, GenerationParams
from ..engines.structured import (
    AUTO,
    MAX_SCHEMA_CHARS,
    MAX_TOOLS,
    NONE,
    REQUIRED,
    Call,
    Structure,
    Tool,
    call_text,
    json_schema,
    split_calls,
    tool,
)
from ..errors import InvalidParameter
from ..run.vision import MAX_IMAGES, MAX_IMAGES_PER_MESSAGE

# OpenAI's own defaults where it has them (temperature and top_p 1); a reply is bounded, as the page's are
DEFAULT_MAX_TOKENS = 2048
ACCEPTED = ("model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature",
            "top_p", "seed", "n", "stop", "presence_penalty", "frequency_penalty", "response_format", "tools",
            "tool_choice", "parallel_tool_calls")
IGNORED = {  # parameter -> why a reply here is the same without it
    "user": "an end-user id for OpenAI's abuse monitoring; nothing here reads it",
    "metadata": "stored completions' tags; nothing is stored",
    "store": "nothing is stored",
    "service_tier": "one tier",
    "prompt_cache_key": "the engine caches prompt prefixes by itself",
    "safety_identifier": "an end-user id for OpenAI's abuse monitoring",
}
REFUSED = {  # parameter -> what to do instead; refused only when it would change the reply
    "functions": "it is deprecated: send 'tools'",
    "function_call": "it is deprecated: send 'tool_choice'",
    "logit_bias": "this engine takes no logit bias",
    "logprobs": "this engine returns no log probabilities",
    "top_logprobs": "this engine returns no log probabilities",
    "audio": "text only",
    "modalities": "text only",
    "prediction": "predicted outputs are not supported",
    "reasoning_effort": "no reasoning model controls",
    "verbosity": "no verbosity control",
    "web_search_options": "no web search",
}
NEUTRAL = {  # what a client may send for a refused parameter and still mean "off"
    "functions": ([], None), "function_call": ("none", None), "logit_bias": ({}, None), "logprobs": (False, None),
    "top_logprobs": (0, None), "audio": (None,), "modalities": (["text"], None), "prediction": (None,),
    "reasoning_effort": (None,), "verbosity": (None,), "web_search_options": (None,)}
ROLES = {"system", "developer", "user", "assistant", "tool"}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    message: str  # the last user message (or the tool results the reply reads)
    history: list[dict]  # the turns before it: user and assistant messages
    system_prompt: str
    params: GenerationParams
    stream: bool
    include_usage: bool
    images: tuple[tuple[bytes, ...], ...] = ()  # with image parts: each message's images (the history's, then
    # the last message's), as their files' bytes, for a vision model

    def vision_messages(self, read) -> list[dict]:
        """The conversation as VisionService takes it, each message with its pictures (`read(bytes, name)`)."""
        turns = self.history + [{"role": "user", "content": self.message}]
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        count = iter(range(1, 1 + sum(map(len, self.images))))
        return system + [{**turn, "images": [read(data, f"image {next(count)}") for data in images]}
                         for turn, images in zip(turns, self.images or [()] * len(turns))]


def read_chat_request(body: object) -> ChatRequest:
    """A /v1/chat/completions body, checked: InvalidParameter (with `param`) names what is wrong."""
    model = required_model(check_names(body, ACCEPTED, IGNORED, REFUSED, NEUTRAL))
    if body.get("n", 1) not in (1, None):
        raise bad("'n' must be 1: one reply per request.", "n")
    system, history = _messages(body.get("messages"))
    if not history or history[-1]["role"] != "user":
        raise bad("The last message must be the user's (or a tool's result): the one to answer.", "messages")
    images = tuple(tuple(h.pop("images", ())) for h in history)
    if sum(map(len, images)) > MAX_IMAGES:  # before any is decoded
        raise bad(f"The conversation holds {sum(map(len, images))} images; up to {MAX_IMAGES} are read.", "messages")
    return ChatRequest(model=model, message=history[-1]["content"], history=history[:-1],
                       system_prompt="\n\n".join(system), params=_params(body), stream=_flag(body, "stream"),
                       include_usage=_flag(body.get("stream_options") or {}, "include_usage"),
                       images=images if any(images) else ())


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompt: str
    echo: bool  # the prompt comes back before the text that follows it
    params: GenerationParams
    stream: bool
    include_usage: bool


COMPLETION_ACCEPTED = ("model", "prompt", "stream", "stream_options", "max_tokens", "temperature", "top_p", "seed",
                       "n", "best_of", "stop", "presence_penalty", "frequency_penalty", "echo")
COMPLETION_REFUSED = {"suffix": "no fill-in-the-middle", "logprobs": "this engine returns no log probabilities",
                      "logit_bias": "this engine takes no logit bias"}
COMPLETION_NEUTRAL = {"suffix": (None, ""), "logprobs": (None, 0), "logit_bias": (None, {})}
DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's own default for /v1/completions


def read_completion_request(body: object) -> CompletionRequest:
    """A /v1/completions body (OpenAI's legacy text completion: a prompt read as it is), checked."""
    model = required_model(check_names(body, COMPLETION_ACCEPTED, {"user": IGNORED["user"]}, COMPLETION_REFUSED,
                                       COMPLETION_NEUTRAL))
    for name in ("n", "best_of"):
        if body.get(name, 1) not in (1, None):
            raise bad(f"'{name}' must be 1: one completion per request.", name)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise bad("'prompt' must be a non-empty text (or a list of one); token ids are not read here.", "prompt")
    return CompletionRequest(model=model, prompt=prompt, echo=_flag(body, "echo"),
                             params=_params(body, DEFAULT_COMPLETION_TOKENS), stream=_flag(body, "stream"),
                             include_usage=_flag(body.get("stream_options") or {}, "include_usage"))


def check_names(body: object, accepted: tuple, ignored: dict, refused: dict, neutral: dict) -> dict:
    """The body, once each of its names is one the endpoint reads: accepted, ignored, or refused unless set
    to a value that means "off" (`neutral`, of the same type: `false` is no `0`)."""
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.", None)
    for name, value in body.items():
        if name in refused and not any(value == off and type(value) is type(off) for off in neutral[name]):
            raise bad(f"'{name}' is not supported here: {refused[name]}.", name)
        if name not in accepted and name not in ignored and name not in refused:
            raise bad(f"Unknown parameter '{name}'.", name)
    return body


def required_model(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' is required: a model id from GET /v1/models.", "model")
    return model


def _messages(messages: object) -> tuple[list[str], list[dict]]:
    """The system texts, and the conversation as the model reads it: an assistant's tool calls written as it
    writes them, and tool results as the user's turn that hands them back (as Hermes and Qwen templates do)."""
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list of {role, content}.", "messages")
    system, history = [], []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise bad(f"messages[{i}] needs a role of {', '.join(sorted(ROLES))}.", f"messages[{i}].role")
        text, images = _content(m.get("content"), i)
        if images and m["role"] != "user":
            raise bad(f"messages[{i}] is the {m['role']}'s: images come in the user's messages.",
                      f"messages[{i}].content")
        if m["role"] in ("system", "developer"):
            system.append(text)
        elif m["role"] == "tool":
            result = f"<tool_response>\n{text}\n</tool_response>"
            if history and history[-1].get("tool"):  # the results of one turn's calls: one message
                history[-1]["content"] += "\n" + result
            else:
                history.append({"role": "user", "content": result, "tool": True})
        elif m["role"] == "assistant":
            if not isinstance(m.get("tool_calls") or [], list):
                raise bad(f"messages[{i}].tool_calls must be a list.", f"messages[{i}].tool_calls")
            calls = [call_text(*_call(c, i, j)) for j, c in enumerate(m.get("tool_calls") or [])]
            history.append({"role": "assistant", "content": "\n".join(([text] if text else []) + calls)})
        else:
            history.append({"role": "user", "content": text, "images": images})
    return system, [{"role": h["role"], "content": h["content"], "images": h.get("images", [])} for h in history]


def _call(call: object, i: int, j: int) -> tuple[str, str]:
    where = f"messages[{i}].tool_calls[{j}]"
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) \
            or not isinstance(function.get("arguments", ""), str):
        raise bad(f"{where} must be {{id, type: 'function', function: {{name, arguments}}}}, arguments as JSON "
                  "text.", where)
    return function["name"], function.get("arguments", "")


def _params(body: dict, default_max: int = DEFAULT_MAX_TOKENS) -> GenerationParams:
    tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    values = {"max_new_tokens": default_max if tokens is None else tokens,
              "temperature": 1.0 if body.get("temperature") is None else body["temperature"],
              "top_p": 1.0 if body.get("top_p") is None else body["top_p"],
              "seed": -1 if body.get("seed") is None else body["seed"],
              "presence_penalty": body.get("presence_penalty") or 0.0,
              "frequency_penalty": body.get("frequency_penalty") or 0.0}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad(f"'{_openai_name(name, body)}' must be a number.", _openai_name(name, body))
    if values["max_new_tokens"] != int(values["max_new_tokens"]) or values["seed"] != int(values["seed"]):
        name = "seed" if values["seed"] != int(values["seed"]) else _openai_name("max_new_tokens", body)
        raise bad(f"'{name}' must be a whole number.", name)
    if values["seed"] < -1 or values["seed"] >= 2**32:
        raise bad("'seed' must be from 0 to 4294967295.", "seed")
    for name in ("presence_penalty", "frequency_penalty"):
        if not -2 <= values[name] <= 2:
            raise bad(f"'{name}' must be from -2 to 2.", name)
    stop = body.get("stop")
    stop = () if stop is None else (stop,) if isinstance(stop, str) else stop
    if not isinstance(stop, (list, tuple)) or len(stop) > MAX_STOPS \
            or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in stop):
        raise bad(f"'stop' must be a text or a list of up to {MAX_STOPS} texts of 1 to {MAX_STOP_CHARS} characters.",
                  "stop")
    try:
        return GenerationParams(max_new_tokens=int(values["max_new_tokens"]), temperature=float(values["temperature"]),
                                top_p=float(values["top_p"]), top_k=0, seed=int(values["seed"]), stop=tuple(stop),
                                presence_penalty=float(values["presence_penalty"]),
                                frequency_penalty=float(values["frequency_penalty"]), structure=_structure(body))
    except InvalidParameter as err:
        raise bad(str(err), getattr(err, "param", None)) from None


def _structure(body: dict) -> Structure | None:
    """response_format (JSON, for a schema or any object) or tools, as the engine holds the reply to them."""
    form = body.get("response_format")
    schema = ""
    if form is not None:
        kind = form.get("type") if isinstance(form, dict) else None
        if kind == "json_object":
            schema = json_schema({"type": "object"}, "response_format")
        elif kind == "json_schema":
            spec = form.get("json_schema")
            if not isinstance(spec, dict) or "schema" not in spec:
                raise bad("'response_format.json_schema' must be {name, schema}: the JSON Schema under 'schema'.",
                          "response_format.json_schema")
            schema = json_schema(spec["schema"], "response_format.json_schema.schema")
        elif kind != "text":
            raise bad("'response_format.type' must be text, json_object or json_schema.", "response_format.type")
    tools = _tools(body.get("tools"))
    choice, parallel = _tool_choice(body.get("tool_choice"), tools), body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise bad("'parallel_tool_calls' must be true or false.", "parallel_tool_calls")
    if schema and tools and choice != NONE:
        raise bad("A reply is either JSON for 'response_format' or tool calls: send one of them.", "response_format")
    if schema:
        return Structure(json_schema=schema)
    if tools and choice != NONE:
        return Structure(tools=tools, choice=choice, parallel=parallel is not False)
    return None


def _tools(tools: object) -> tuple[Tool, ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list) or len(tools) > MAX_TOOLS:
        raise bad(f"'tools' must be a list of up to {MAX_TOOLS} functions.", "tools")
    found = []
    for i, spec in enumerate(tools):
        function = spec.get("function") if isinstance(spec, dict) and spec.get("type") == "function" else None
        if not isinstance(function, dict):
            raise bad(f"tools[{i}] must be {{type: 'function', function: {{name, description, parameters}}}}.",
                      f"tools[{i}]")
        found.append(tool(function.get("name"), function.get("description"), function.get("parameters"),
                          f"tools[{i}].function"))
    names = [t.name for t in found]
    if len(set(names)) < len(names):
        raise bad("Two tools have the same name.", "tools")
    if sum(len(t.parameters) + len(t.description) for t in found) > MAX_SCHEMA_CHARS:
        raise bad(f"The tools' descriptions and parameters are over {MAX_SCHEMA_CHARS:,} characters together.",
                  "tools")
    return tuple(found)


def _tool_choice(choice: object, tools: tuple[Tool, ...]) -> str:
    if choice is None:
        return AUTO
    if choice in (AUTO, REQUIRED, NONE):
        name = choice
    elif isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if name not in {t.name for t in tools}:
            raise bad(f"'tool_choice' names '{name}', which is not one of the tools.", "tool_choice")
    else:
        raise bad("'tool_choice' must be none, auto, required or {type: 'function', function: {name}}.", "tool_choice")
    if name != NONE and not tools:
        raise bad("'tool_choice' needs 'tools' to choose from.", "tool_choice")
    return name


def _openai_name(name: str, body: dict) -> str:
    if name == "max_new_tokens":
        return "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    return name


def _content(content: object, i: int) -> tuple[str, list[bytes]]:
    """A message's text and its images: a string, or a list of text and image parts (an image as a data: URL
    of its file, as OpenAI's clients send a local image)."""
    if isinstance(content, str):
        return content, []
    if content is None:
        return "", []
    if not isinstance(content, list):
        raise bad(f"messages[{i}].content must be a string or a list of parts.", f"messages[{i}].content")
    texts, images = [], []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            url = part.get("image_url", {}).get("url") if isinstance(part.get("image_url"), dict) else None
            images.append(_data_url(url, f"messages[{i}].content[{j}].image_url.url"))
        else:
            raise bad(f"messages[{i}] has a '{kind}' part: text and image_url parts are read here.",
                      f"messages[{i}].content")
    if len(images) > MAX_IMAGES_PER_MESSAGE:
        raise bad(f"messages[{i}] has {len(images)} images; up to {MAX_IMAGES_PER_MESSAGE} are read at once.",
                  f"messages[{i}].content")
    return "\n".join(texts), images


def _data_url(url: object, param: str) -> bytes:
    """An image's file from a data: URL. A web address is not fetched: this server reaches no one else."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise bad("An image must come as a data: URL of its file (data:image/png;base64,…): this server does "
                  "not fetch web addresses.", param)
    head, _, data = url.partition(",")
    if not head.endswith(";base64"):
        raise bad("An image's data: URL must be base64 (data:image/png;base64,…).", param)
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        raise bad("An image's data: URL holds something that is not base64.", param) from None


def _flag(body: dict, name: str) -> bool:
    value = body.get(name, False) if isinstance(body, dict) else False
    if value is not None and not isinstance(value, bool):
        raise bad(f"'{name}' must be true or false.", name)
    return bool(value)


def bad(message: str, param: str | None) -> InvalidParameter:
    err = InvalidParameter(message)
    err.param = param  # OpenAI's error names the parameter
    return err


# OpenAI's objects


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def finish_reason(metrics: ChatMetrics | None, called: bool = False) -> str:
    if called:
        return "tool_calls"
    return "length" if metrics is not None and metrics.finish == "length" else "stop"


def usage(metrics: ChatMetrics | None) -> dict:
    prompt, completion = (metrics.input_tokens, metrics.output_tokens) if metrics else (0, 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def tool_call(call: Call) -> dict:
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}


def completion(cid: str, model: str, text: str, metrics: ChatMetrics | None, structure: Structure | None = None
               ) -> dict:
    """The whole reply: its text, or (with tools) the text before its calls and the calls."""
    message: dict = {"role": "assistant", "content": text, "refusal": None}
    calls = []
    if structure is not None and structure.calls:
        content, calls = split_calls(text, final=True)
        message["content"] = content or None
        if calls:
            message["tool_calls"] = [tool_call(c) for c in calls]
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish_reason(metrics, bool(calls))}],
            "usage": usage(metrics), "system_fingerprint": None}


class Deltas:
    """A reply's text, as it grows, as OpenAI's deltas: the new text; with tools, the text before the calls,
    then each call once it is whole (its id and name, then its arguments, as OpenAI streams them)."""

    def __init__(self, structure: Structure | None) -> None:
        self.tools = structure is not None and structure.calls
        self.sent, self.calls = "", 0

    def feed(self, text: str, final: bool = False) -> list[dict]:
        calls: list[Call] = []
        if self.tools:
            text, calls = split_calls(text, final)
        deltas = [{"content": text[len(self.sent):]}] if len(text) > len(self.sent) else []
        self.sent = max(self.sent, text, key=len)
        for index in range(self.calls, len(calls)):
            call = tool_call(calls[index])
            deltas.append({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                           "function": {"name": call["function"]["name"], "arguments": ""}}]})
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": call["function"]["arguments"]}}]})
        self.calls = max(self.calls, len(calls))
        return deltas


def text_completion(cid: str, model: str, created: int, text: str, finish: str | None,
                    metrics: ChatMetrics | None = None, whole: bool = False) -> dict:
    """/v1/completions' object: whole (with the usage), or one chunk of a stream."""
    body = {"id": cid, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            "system_fingerprint": None}
    if whole:
        body["usage"] = usage(metrics)
    return body


def chunk(cid: str, model: str, created: int, delta: dict, finish: str | None = None) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "system_fingerprint": None}


def usage_chunk(cid: str, model: str, created: int, metrics: ChatMetrics | None) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
            "usage": usage(metrics), "system_fingerprint": None}
