"""A reply held to a shape while it is generated: one JSON document that validates against a schema,
or calls to the tools a request offers. openvino_genai's structured output (xgrammar) masks, at each
step, every token that would break the shape, so even a small model's reply parses.

Tool calls are written as `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, the format of
Hermes and Qwen models' chat templates: the system prompt says how to call (tools_prompt), the engine
holds each call to its function's schema once the model opens one, and `split_calls` reads them back.

A schema is checked here (JSON Schema's own meta-schema, with jsonschema) before it reaches the
engine; what xgrammar still cannot compile fails only its own reply (engines/batching.py runs a new
grammar alone before it may join other replies).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameter

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
MAX_TOOLS = 128  # OpenAI's own limit
MAX_SCHEMA_CHARS = 100_000  # a schema, or all the tools' together, as JSON
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for a function's name
AUTO, REQUIRED, NONE = "auto", "required", "none"


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: str  # a JSON Schema, as compact JSON text

    def schema(self) -> dict:
        """One call of this tool, as the model writes it."""
        return {"type": "object", "properties": {"name": {"const": self.name},
                                                 "arguments": json.loads(self.parameters)},
                "required": ["name", "arguments"], "additionalProperties": False}


@dataclass(frozen=True)
class Structure:
    """What a reply must look like. `json_schema`: the whole reply is one JSON document valid against it.
    `tools`: the reply may call them (`choice` auto), must call at least one (required) or the one named;
    `parallel`: more than one call in a reply."""
    json_schema: str = ""
    tools: tuple[Tool, ...] = ()
    choice: str = AUTO
    parallel: bool = True

    def __post_init__(self) -> None:
        if self.json_schema and self.tools:
            raise InvalidParameter("A reply is either JSON for a schema or tool calls, not both.")
        if self.choice not in (AUTO, REQUIRED) and self.choice not in {t.name for t in self.tools}:
            raise InvalidParameter(f"tool_choice names '{self.choice}', which is not one of the tools.")

    @property
    def calls(self) -> bool:
        return bool(self.tools)

    def config(self) -> Any:
        """openvino_genai's StructuredOutputConfig for it."""
        import openvino_genai as og

        so = og.StructuredOutputConfig
        if self.json_schema:
            return so(json_schema=self.json_schema)
        tools = [t for t in self.tools if self.choice in (AUTO, REQUIRED) or t.name == self.choice]
        tags = [so.Tag(CALL_OPEN, so.JSONSchema(json.dumps(t.schema())), CALL_CLOSE) for t in tools]
        if self.choice == AUTO:  # text, until the model opens a call: then the call is held to its schema
            shape = so.TriggeredTags(triggers=[CALL_OPEN], tags=tags, stop_after_first=not self.parallel)
        else:  # the reply is the calls, from its first token
            shape = so.TagsWithSeparator(tags=tags, separator="\n", at_least_one=True,
                                         stop_after_first=not self.parallel)
        return so(structural_tags_config=shape)


def json_schema(schema: object, param: str) -> str:
    """A JSON Schema, checked against JSON Schema's meta-schema; the compact JSON text the engine takes."""
    import jsonschema

    if not isinstance(schema, dict):
        raise _bad(f"'{param}' must be a JSON Schema: a JSON object.", param)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except RecursionError:
        raise _bad(f"'{param}' is nested too deeply to read.", param) from None
    except jsonschema.SchemaError as err:
        where = "/".join(str(p) for p in err.path)
        raise _bad(f"'{param}' is not a valid JSON Schema{f' at {where}' if where else ''}: {err.message}",
                   param) from None
    text = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_SCHEMA_CHARS:
        raise _bad(f"'{param}' is {len(text):,} characters as JSON; the limit is {MAX_SCHEMA_CHARS:,}.", param)
    return text


def json_reply(schema_text: str, param: str = "json_schema") -> Structure | None:
    """A reply held to a JSON Schema written as text (the Chat tab's box, /chat's parameter); None when empty."""
    if not isinstance(schema_text, str) or not schema_text.strip():
        return None
    try:
        schema = json.loads(schema_text)
    except ValueError as err:
        raise _bad(f"The JSON Schema is not JSON: {err}.", param) from None
    return Structure(json_schema=json_schema(schema, param))


def tool(name: object, description: object, parameters: object, param: str) -> Tool:
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        raise _bad(f"'{param}.name' must be 1 to 64 letters, digits, underscores or dashes.", f"{param}.name")
    if description is not None and not isinstance(description, str):
        raise _bad(f"'{param}.description' must be text.", f"{param}.description")
    schema = {"type": "object", "properties": {}} if parameters is None else parameters
    return Tool(name, description or "", json_schema(schema, f"{param}.parameters"))


def tools_prompt(tools: tuple[Tool, ...]) -> str:
    """What the system prompt says of the tools: each one's signature, and how to call it."""
    signatures = "\n".join(json.dumps({"type": "function", "function": {
        "name": t.name, "description": t.description, "parameters": json.loads(t.parameters)}}, ensure_ascii=False)
        for t in tools)
    return ("You may call one or more functions to help with the user's request. The functions are:\n"
            f"<tools>\n{signatures}\n</tools>\n"
            f"To call a function, write a JSON object with its name and arguments inside {CALL_OPEN}{CALL_CLOSE} "
            f'tags:\n{CALL_OPEN}\n{{"name": <function-name>, "arguments": <args-json-object>}}\n{CALL_CLOSE}')


def with_tools(system_prompt: str, structure: "Structure | None") -> str:
    """The system prompt, followed by what it says of the tools when the reply may call them."""
    if structure is None or not structure.calls:
        return system_prompt
    return "\n\n".join(p for p in (system_prompt.strip(), tools_prompt(structure.tools)) if p)


def call_text(name: str, arguments: str) -> str:
    """A call as the model writes it: for an assistant's earlier calls in a conversation."""
    try:
        args = json.loads(arguments) if arguments else {}
    except ValueError:
        args = arguments
    return f"{CALL_OPEN}\n{json.dumps({'name': name, 'arguments': args}, ensure_ascii=False)}\n{CALL_CLOSE}"


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # JSON text, as OpenAI sends it


def split_calls(text: str, final: bool) -> tuple[str, list[Call]]:
    """The reply's text before its first call, and the calls complete so far (each once: a small model
    may write the same call again and again). While the reply streams (`final` False), what may still
    turn into a call, or be the space before one, is held back."""
    content, calls, _ = _read(text, final)
    return content, calls


def repeats(text: str) -> bool:
    """Whether the reply wrote a call it had written already: it is going round, and may end there."""
    return _read(text, final=False)[2]


def _read(text: str, final: bool) -> tuple[str, list[Call], bool]:
    start = text.find(CALL_OPEN)
    if start < 0:
        return (text if final else text[:_safe_end(text)]).rstrip(), [], False
    calls: list[Call] = []
    again, at = False, start
    while (begin := text.find(CALL_OPEN, at)) >= 0 and (end := text.find(CALL_CLOSE, begin)) >= 0:
        if call := _read_call(text[begin + len(CALL_OPEN):end]):
            again = again or call in calls
            if call not in calls:
                calls.append(call)
        at = end + len(CALL_CLOSE)
    return text[:start].rstrip(), calls, again


def _safe_end(text: str) -> int:
    """Where text that cannot be part of `<tool_call>` ends: a tail that may begin it waits for more."""
    for n in range(min(len(CALL_OPEN) - 1, len(text)), 0, -1):
        if CALL_OPEN.startswith(text[-n:]):
            return len(text) - n
    return len(text)


def _read_call(body: str) -> Call | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    args = value.get("arguments", value.get("parameters", {}))
    return Call(value["name"], json.dumps(args, ensure_ascii=False))


def grammar_error(err: BaseException) -> str:
    """xgrammar's words for a schema it cannot compile, without its build path; "" for another error."""
    text = str(err)
    if "xgrammar" not in text and "grammar" not in text.lower():
        return ""
    found = re.search(r"\.cc:\d+: (?:Check failed: .*? is false: )?(.*)", text, re.S)
    return (found.group(1) if found else text).strip().splitlines()[0][:300]


def _bad(message: str, param: str) -> InvalidParameter:
    err = InvalidParameter(message)
    err.param = param
    return err
