"""OpenAI's chat completions on the ChatService: a request read and checked, its reply as OpenAI's objects.

Each OpenAI parameter is accepted, ignored (it changes nothing a reply of this engine could show) or
refused with a 400 that names it; PARAMETERS lists which and why (docs/api.md shows the same table).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from ..engines.llm import ChatMetrics, GenerationParams
from ..errors import InvalidParameter

# OpenAI's own defaults where it has them (temperature and top_p 1); a reply is bounded, as the page's are
DEFAULT_MAX_TOKENS = 2048
ACCEPTED = ("model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature",
            "top_p", "seed", "n")
IGNORED = {  # parameter -> why a reply here is the same without it
    "user": "an end-user id for OpenAI's abuse monitoring; nothing here reads it",
    "metadata": "stored completions' tags; nothing is stored",
    "store": "nothing is stored",
    "service_tier": "one tier",
    "prompt_cache_key": "the engine caches prompt prefixes by itself",
    "safety_identifier": "an end-user id for OpenAI's abuse monitoring",
    "parallel_tool_calls": "without tools it has nothing to do",
}
REFUSED = {  # parameter -> what to do instead; refused only when it would change the reply
    "tools": "tool calling is not available yet",
    "tool_choice": "tool calling is not available yet",
    "functions": "tool calling is not available yet",
    "function_call": "tool calling is not available yet",
    "response_format": "structured output is not available yet (a `text` format is accepted)",
    "stop": "stop sequences are not available yet",
    "presence_penalty": "not available yet (0 is accepted)",
    "frequency_penalty": "not available yet (0 is accepted)",
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
    "tools": ([], None), "tool_choice": ("none", None), "functions": ([], None), "function_call": ("none", None),
    "stop": (None, [], ""), "presence_penalty": (0, 0.0, None), "frequency_penalty": (0, 0.0, None),
    "logit_bias": ({}, None), "logprobs": (False, None), "top_logprobs": (0, None), "audio": (None,),
    "modalities": (["text"], None), "prediction": (None,), "reasoning_effort": (None,), "verbosity": (None,),
    "web_search_options": (None,)}
ROLES = {"system", "developer", "user", "assistant"}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    message: str  # the last user message
    history: list[dict]  # the turns before it: user and assistant messages
    system_prompt: str
    params: GenerationParams
    stream: bool
    include_usage: bool


def read_chat_request(body: object) -> ChatRequest:
    """A /v1/chat/completions body, checked: InvalidParameter (with `param`) names what is wrong."""
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.", None)
    for name in body:
        if name in REFUSED and not _neutral(name, body[name]):
            raise bad(f"'{name}' is not supported here: {REFUSED[name]}.", name)
        if name not in ACCEPTED and name not in IGNORED and name not in REFUSED:
            raise bad(f"Unknown parameter '{name}'.", name)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("'model' is required: a model id from GET /v1/models.", "model")
    if body.get("n", 1) not in (1, None):
        raise bad("'n' must be 1: one reply per request.", "n")
    system, history = [], []
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list of {role, content}.", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            role = m.get("role") if isinstance(m, dict) else None
            hint = " (tool results come with tool calling, not available yet)" if role == "tool" else ""
            raise bad(f"messages[{i}] needs a role of {', '.join(sorted(ROLES))}{hint}.", f"messages[{i}].role")
        text = _text(m.get("content"), i)
        if m["role"] in ("system", "developer"):
            system.append(text)
        else:
            history.append({"role": m["role"], "content": text})
    if not history or history[-1]["role"] != "user":
        raise bad("The last message must be the user's: the one to answer.", "messages")
    return ChatRequest(model=model, message=history[-1]["content"], history=history[:-1],
                       system_prompt="\n\n".join(system), params=_params(body), stream=_flag(body, "stream"),
                       include_usage=_flag(body.get("stream_options") or {}, "include_usage"))


def _params(body: dict) -> GenerationParams:
    tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    values = {"max_new_tokens": DEFAULT_MAX_TOKENS if tokens is None else tokens,
              "temperature": 1.0 if body.get("temperature") is None else body["temperature"],
              "top_p": 1.0 if body.get("top_p") is None else body["top_p"],
              "seed": -1 if body.get("seed") is None else body["seed"]}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"'{_openai_name(name, body)}' must be a number.", _openai_name(name, body))
    if values["max_new_tokens"] != int(values["max_new_tokens"]) or values["seed"] != int(values["seed"]):
        name = "seed" if values["seed"] != int(values["seed"]) else _openai_name("max_new_tokens", body)
        raise bad(f"'{name}' must be a whole number.", name)
    if values["seed"] < -1 or values["seed"] >= 2**32:
        raise bad("'seed' must be from 0 to 4294967295.", "seed")
    try:
        return GenerationParams(max_new_tokens=int(values["max_new_tokens"]), temperature=float(values["temperature"]),
                                top_p=float(values["top_p"]), top_k=0, seed=int(values["seed"]))
    except InvalidParameter as err:
        raise bad(str(err), None) from None


def _openai_name(name: str, body: dict) -> str:
    if name == "max_new_tokens":
        return "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    return name


def _text(content: object, i: int) -> str:
    """A message's text: a string, or a list of text parts (images come with the vision step of /v1)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise bad(f"messages[{i}] has a '{kind}' part: only text parts are read here yet.",
                          f"messages[{i}].content")
            parts.append(part["text"])
        return "\n".join(parts)
    if content is None:
        return ""
    raise bad(f"messages[{i}].content must be a string or a list of text parts.", f"messages[{i}].content")


def _flag(body: dict, name: str) -> bool:
    value = body.get(name, False) if isinstance(body, dict) else False
    if value is not None and not isinstance(value, bool):
        raise bad(f"'{name}' must be true or false.", name)
    return bool(value)


def _neutral(name: str, value: object) -> bool:
    if name == "response_format":
        return value is None or value == {"type": "text"}
    return any(value == n and type(value) is type(n) or (value is None and n is None) for n in NEUTRAL[name])


def bad(message: str, param: str | None) -> InvalidParameter:
    err = InvalidParameter(message)
    err.param = param  # OpenAI's error names the parameter
    return err


# OpenAI's objects


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def finish_reason(metrics: ChatMetrics | None) -> str:
    return "length" if metrics is not None and metrics.finish == "length" else "stop"


def usage(metrics: ChatMetrics | None) -> dict:
    prompt, completion = (metrics.input_tokens, metrics.output_tokens) if metrics else (0, 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(cid: str, model: str, text: str, metrics: ChatMetrics | None) -> dict:
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": finish_reason(metrics)}],
            "usage": usage(metrics), "system_fingerprint": None}


def chunk(cid: str, model: str, created: int, delta: dict, finish: str | None = None) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "system_fingerprint": None}


def usage_chunk(cid: str, model: str, created: int, metrics: ChatMetrics | None) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
            "usage": usage(metrics), "system_fingerprint": None}
