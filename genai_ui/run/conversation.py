"""A chat conversation as plain data, and the edits the Chat tab offers on it.

Messages are {role, content} dicts, as the API takes them; an assistant message may
also carry `metrics` (a dict), which is shown under it and never sent to the model.
"""

from __future__ import annotations

from ..errors import InvalidParameter

ROLES = ("system", "user", "assistant")


def normalize(history: list) -> list[dict]:
    """Check a history from the API or the UI and keep only what the model reads."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise InvalidParameter("history must be a list of {role, content} messages.")
    clean = []
    for i, message in enumerate(history):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise InvalidParameter(f"history[{i}] must be a dict with a role of {', '.join(ROLES)}.")
        content = message.get("content", "")
        if isinstance(content, list):  # Gradio's list-of-parts form: keep the text parts
            content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
        if not isinstance(content, str):
            raise InvalidParameter(f"history[{i}].content must be text.")
        clean.append({"role": message["role"], "content": content})
    return clean


def for_model(history: list[dict], message: str, system_prompt: str = "") -> list[dict]:
    """What the model is given: the system prompt, the history, the new message."""
    system = [{"role": "system", "content": system_prompt.strip()}] if system_prompt.strip() else []
    past = [m for m in normalize(history) if m["role"] != "system"] if system else normalize(history)
    return system + past + [{"role": "user", "content": message}]


def last_user_index(messages: list[dict]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "user":
            return i
    return None


def split_last_turn(messages: list[dict]) -> tuple[list[dict], str] | None:
    """The history before the last user message, and that message; None if there is none.
    Undo keeps the first part; Regenerate answers the message again on top of it."""
    i = last_user_index(messages)
    if i is None:
        return None
    return list(messages[:i]), messages[i]["content"]
