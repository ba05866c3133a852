"""`python -m genai_ui.bench history`: a hostile chat history refused or trimmed at once, and another user's reply
meanwhile.

The app runs on the built-in model in a subprocess, reached over Gradio's plain HTTP API as a script would. Each run:
a history of 2,000 messages of 500 words (twice the message bound, five times the character bound), from the request
to the error; the largest history within the bounds (1,000 messages, 1,000,000 characters) to its reply's first
token, beside the first token of what the trim keeps sent as it is (the difference is the trim's own cost); and
another user's short question sent halfway through either, against the same question alone.

What the trim keeps is then prefilled like any prompt of its length, and a prompt that fills this model's 8,192
tokens takes about a minute to its first token on 2 cores, trimmed or not. So the trimmed call asks for a reply that
leaves `--kept-tokens` of the context to the conversation (1,024: about 4 messages), and the client leaves at its
first token; `--kept-tokens 8192` keeps what fits beside an 8-token reply, as a client asking for a short one would.
Every history is new text (a tag in each message): the engine's prefix cache would otherwise answer a repeated one.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .common import launch_app, save_result, stop

QUESTION = "What is the capital of France?"
QUESTION_TOKENS = 16
TRIMMED_MESSAGE = "Sum up our conversation in one sentence."
MIN_REPLY_TOKENS = 8
REFUSED_MESSAGES, REFUSED_WORDS = 2_000, 500
WORDS = ("the keeper of an old lighthouse found a bottle on the grey shore one morning and inside it lay a letter "
         "written long ago by someone who had sailed past the rocks in a storm asking whoever read it to light "
         "the lamp each night until a ship came back").split()
IR_WAIT_S = 240  # the IR saved beside the GGUF after the first load would share the cores with what is measured
SETTLE_S = 0.3  # after a client leaves mid-reply, the app stops the engine at its next update


@dataclass(frozen=True)
class Call:
    """One /chat call as its client saw it (perf_counter seconds)."""
    sent: float
    first: float | None  # the first update with text
    end: float
    text: str
    error: str | None

    @property
    def ttft_s(self) -> float | None:
        return None if self.first is None else self.first - self.sent

    @property
    def wall_s(self) -> float:
        return self.end - self.sent


def chat_body(message: str, history: list[dict], max_new_tokens: int) -> bytes:
    """The /chat call's body, greedy, encoded once: the bench's own JSON work stays out of the time."""
    return json.dumps({"data": [message, history, "", "", max_new_tokens, 0.0, 1.0, 0, 1.0, -1, ""]}).encode()


def call_chat(http, url: str, body: bytes, leave_at_first: bool = False) -> Call:
    """/chat over HTTP with its server-sent events read to the end (or to the first text): each update, or the
    error. A client that leaves stops the reply in the engine."""
    sent = time.perf_counter()
    response = http.post(f"{url}gradio_api/call/chat", content=body, headers={"Content-Type": "application/json"})
    response.raise_for_status()
    first, text, error, event = None, "", None, ""
    with http.stream("GET", f"{url}gradio_api/call/chat/{response.json()['event_id']}") as events:
        for line in events.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "error":
                    error = (data or {}).get("error") or "an error without a message"
                elif isinstance(data, list) and data and data[0]:
                    text = data[0]
                    first = first or time.perf_counter()
                    if leave_at_first:
                        break
    if leave_at_first:
        time.sleep(SETTLE_S)
    return Call(sent, first, first or time.perf_counter(), text, error)


def conversation(messages: int, chars: int, tag: str) -> list[dict]:
    """`messages` messages of `chars` characters each, user and assistant in turn, each starting with `tag`."""
    def content(i: int) -> str:
        text = f"[{tag} {i}] " + " ".join(WORDS[(i + j) % len(WORDS)] for j in range(chars // 3))
        return text[:chars]

    return [{"role": "user" if i % 2 == 0 else "assistant", "content": content(i)} for i in range(messages)]


def refused_history(tag: str) -> list[dict]:
    words = " ".join(WORDS[j % len(WORDS)] for j in range(REFUSED_WORDS))
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": f"[{tag} {i}] {words}"}
            for i in range(REFUSED_MESSAGES)]


def meanwhile(http_hostile, http_question, url: str, hostile: bytes, question: bytes, delay: float,
              leave_at_first: bool) -> tuple[Call, Call]:
    """The hostile call, and the question sent `delay` seconds after it by another user."""
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(call_chat, http_hostile, url, hostile, leave_at_first)
        time.sleep(delay)
        second = call_chat(http_question, url, question)
        return first.result(), second


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "min": min(values), "max": max(values)}


def wait_for_ir(model_dir: Path, timeout: float) -> float:
    """Seconds until the IR saved beside the GGUF is complete."""
    start = time.monotonic()
    while not ((model_dir / "openvino_model.xml").is_file() and not (model_dir / ".gguf").exists()):
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"the IR of the built-in model was not saved within {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - start


class Trim:
    """What the app's trim keeps of a conversation, worked out here by the same code and the same tokenizer."""

    def __init__(self, gguf: Path, context_length: int, max_new_tokens: int) -> None:
        import openvino_genai as og

        self.tokenizer = og.Tokenizer(str(gguf))
        self.context_length, self.max_new_tokens = context_length, max_new_tokens

    def kept(self, history: list[dict]) -> tuple[list[dict], int]:
        """The kept history (the new message left out) and the prompt's tokens."""
        from ..engines.engine import count_tokens, text_tokens
        from ..engines.llm import fit_context
        from ..run.chat import check_history
        from ..run.conversation import for_model

        kept, _, _ = fit_context(lambda m: count_tokens(self.tokenizer, m), for_model(check_history(history),
                                 TRIMMED_MESSAGE), self.max_new_tokens, self.context_length,
                                 lambda m: text_tokens(self.tokenizer, m["content"]))
        return kept[:-1], count_tokens(self.tokenizer, kept)


def bench_history(runs: int, output: Path, kept_tokens: int = 1024) -> dict:
    import httpx

    from ..builtin import BUILTIN_ID, builtin_gguf
    from ..library import Library
    from ..run.chat import MAX_HISTORY_CHARS, MAX_HISTORY_MESSAGES

    gguf = builtin_gguf()
    if gguf is None:
        raise SystemExit("The built-in model is not installed: run `make setup` first.")
    started, load_before = time.monotonic(), os.getloadavg()[0]
    each = MAX_HISTORY_CHARS // MAX_HISTORY_MESSAGES
    question = chat_body(QUESTION, [], QUESTION_TOKENS)
    calls: dict[str, list[Call]] = {k: [] for k in (
        "question_alone", "refused", "refused_meanwhile", "question_during_refused", "trimmed", "kept_alone",
        "trimmed_meanwhile", "question_during_trimmed")}
    kept_sizes: list[tuple[int, int]] = []
    with tempfile.TemporaryDirectory(prefix="genai-ui-bench-history-", ignore_cleanup_errors=True) as home:
        server, url, page_s = launch_app(home)
        try:
            with httpx.Client(timeout=600) as http_a, httpx.Client(timeout=600) as http_b:
                warm = call_chat(http_a, url, question)  # loads the model
                if warm.error:
                    raise RuntimeError(f"the warm-up reply failed: {warm.error}")
                ir_wait_s = wait_for_ir(Path(home, "models", BUILTIN_ID), IR_WAIT_S)
                context = Library(Path(home, "models")).get(BUILTIN_ID).context_length
                reply_tokens = max(MIN_REPLY_TOKENS, context - kept_tokens)
                trim = Trim(gguf, context, reply_tokens)
                leave = reply_tokens > MIN_REPLY_TOKENS  # a long reply: only its first token is measured
                for i in range(runs):
                    # built before each run, encoded once: new text each time for the prefix cache
                    largest = [conversation(MAX_HISTORY_MESSAGES, each, f"run {i} {side}") for side in "ab"]
                    largest_chars = sum(len(m["content"]) for m in largest[0])
                    kept, tokens = trim.kept(conversation(MAX_HISTORY_MESSAGES, each, f"run {i} c"))
                    kept_sizes.append((len(kept), tokens))
                    refused = refused_history(f"run {i}")
                    refused_chars = sum(len(m["content"]) for m in refused)
                    refused_body = chat_body(TRIMMED_MESSAGE, refused, MIN_REPLY_TOKENS)
                    largest_bodies = [chat_body(TRIMMED_MESSAGE, h, reply_tokens) for h in largest]
                    kept_body = chat_body(TRIMMED_MESSAGE, kept, reply_tokens)
                    alone = call_chat(http_b, url, question)
                    no = call_chat(http_a, url, refused_body)
                    no_mw, q_refused = meanwhile(http_a, http_b, url, refused_body, question, no.wall_s / 2, False)
                    if i % 2:  # in turn first: a drift of the machine cancels out in the difference
                        kept_alone = call_chat(http_a, url, kept_body, leave)
                    trimmed = call_chat(http_a, url, largest_bodies[0], leave)
                    if not i % 2:
                        kept_alone = call_chat(http_a, url, kept_body, leave)
                    trimmed_mw, q_trimmed = meanwhile(http_a, http_b, url, largest_bodies[1], question,
                                                      (trimmed.ttft_s or 0) / 2, leave)
                    for name, call in (("question_alone", alone), ("refused", no), ("refused_meanwhile", no_mw),
                                       ("question_during_refused", q_refused),
                                       ("trimmed", trimmed), ("kept_alone", kept_alone),
                                       ("trimmed_meanwhile", trimmed_mw), ("question_during_trimmed", q_trimmed)):
                        calls[name].append(call)
                    print(f"run {i + 1}: refused in {no.wall_s:.2f} s; trimmed, first token in "
                          f"{trimmed.ttft_s or 0:.2f} s (what it keeps, sent as it is: {kept_alone.ttft_s or 0:.2f} s);"
                          f" the question alone {alone.ttft_s or 0:.3f} s, meanwhile {q_refused.ttft_s or 0:.3f} s "
                          f"and {q_trimmed.ttft_s or 0:.3f} s", flush=True)
        finally:
            stop(server)
    result = summary(calls, runs=runs, context_length=context, reply_tokens=reply_tokens, kept_sizes=kept_sizes,
                     refused_chars=refused_chars, largest_chars=largest_chars,
                     bounds=(MAX_HISTORY_MESSAGES, MAX_HISTORY_CHARS),
                     times={"page_s": round(page_s, 2), "ir_wait_s": round(ir_wait_s, 1),
                            "total_s": round(time.monotonic() - started, 1)},
                     load=(load_before, os.getloadavg()[0]))
    save_result(output, "history", result)
    print(history_table(result))
    return result


def summary(calls: dict[str, list[Call]], *, runs: int, context_length: int, reply_tokens: int,
            kept_sizes: list[tuple[int, int]], refused_chars: int, largest_chars: int, bounds: tuple[int, int],
            times: dict, load: tuple[float, float]) -> dict:
    def ttft(name: str) -> list[float | None]:
        return [c.ttft_s for c in calls[name]]

    def ratio(during: str) -> list[float | None]:
        return [d / a if d and a else None for d, a in zip(ttft(during), ttft("question_alone"))]

    def sent_before(hostile: str, question: str) -> int:
        """Runs where the question went out before the hostile call was answered (its error, its first token)."""
        return sum(q.sent < (h.first or h.end) for h, q in zip(calls[hostile], calls[question]))

    per_run = {
        "refused_s": [c.wall_s if c.error else None for c in calls["refused"]],
        "refused_meanwhile_s": [c.wall_s if c.error else None for c in calls["refused_meanwhile"]],
        "trimmed_ttft_s": ttft("trimmed"), "kept_alone_ttft_s": ttft("kept_alone"),
        "trim_added_s": [t - k if t and k else None for t, k in zip(ttft("trimmed"), ttft("kept_alone"))],
        "trimmed_meanwhile_ttft_s": ttft("trimmed_meanwhile"),
        "question_alone_ttft_s": ttft("question_alone"),
        "question_during_refused_ttft_s": ttft("question_during_refused"),
        "question_during_refused_ratio": ratio("question_during_refused"),
        "question_during_trimmed_ttft_s": ttft("question_during_trimmed"),
        "question_during_trimmed_ratio": ratio("question_during_trimmed"),
        # the engine adds a request that comes during the prefill of the one it runs once that one has its first
        # token (engines/batching.py): the question's first token follows the trimmed call's by this much
        "question_after_trimmed_first_token_s": [q.first - h.first if q.first and h.first else None for h, q in
                                                 zip(calls["trimmed_meanwhile"], calls["question_during_trimmed"])],
    }
    per_run = {name: [None if v is None else round(v, 4) for v in values] for name, values in per_run.items()}
    refused = calls["refused"] + calls["refused_meanwhile"]
    return {
        "model": "SmolLM2-135M-Instruct-Q4_1", "context_length": context_length, "runs": runs, "cpus": os.cpu_count(),
        "bounds": {"messages": bounds[0], "chars": bounds[1]},
        "refused_history": {"messages": REFUSED_MESSAGES, "words_each": REFUSED_WORDS, "chars": refused_chars,
                            "errors": sorted({c.error or "" for c in refused})},
        "trimmed_history": {"messages": bounds[0], "chars": largest_chars,
                            "max_new_tokens": reply_tokens, "left_at_first_token": reply_tokens > MIN_REPLY_TOKENS,
                            "kept_messages": statistics.median(n for n, _ in kept_sizes),
                            "kept_tokens": statistics.median(t for _, t in kept_sizes)},
        "question": {"text": QUESTION, "max_new_tokens": QUESTION_TOKENS,
                     "sent_before_refusal": sent_before("refused_meanwhile", "question_during_refused"),
                     "sent_before_first_token": sent_before("trimmed_meanwhile", "question_during_trimmed"),
                     "answers": sorted({c.text for n in ("question_alone", "question_during_refused",
                                                         "question_during_trimmed") for c in calls[n]})},
        "failures": [f"{name}: {c.error}" for name in calls if not name.startswith("refused")
                     for c in calls[name] if c.error],
        "figures": {name: spread(values) if None not in values else None for name, values in per_run.items()},
        "per_run": per_run, **times,
        # other work on the machine shows here: the 1-minute load average when the bench started and ended
        "load_average": {"start": round(load[0], 2), "end": round(load[1], 2)},
    }


def history_table(r: dict) -> str:
    def s(name: str, digits: int = 2) -> str:
        m = r["figures"][name]
        return "not measured" if m is None else \
            f"{m['median']:.{digits}f} s ({m['min']:.{digits}f} to {m['max']:.{digits}f})"

    def x(name: str) -> str:
        m = r["figures"][name]
        return "not measured" if m is None else f"{m['median']:.2f}× ({m['min']:.2f} to {m['max']:.2f})"

    rh, th, q = r["refused_history"], r["trimmed_history"], r["question"]
    lines = [f"{r['model']} (context {r['context_length']:,} tokens), {r['cpus']} CPUs, median (min to max) of "
             f"{r['runs']} runs", "", "| measure | measured |", "| --- | ---: |",
             f"| {rh['messages']:,} messages of {rh['words_each']} words ({rh['chars']:,} characters): request to the "
             f"error | {s('refused_s')} |",
             f"| … while another user's question runs | {s('refused_meanwhile_s')} |",
             f"| {th['messages']:,} messages, {th['chars']:,} characters, {th['max_new_tokens']:,} new tokens asked: "
             f"first token, trimmed to {th['kept_messages']:g} messages ({th['kept_tokens']:,g} tokens) | "
             f"{s('trimmed_ttft_s')} |",
             f"| … what the trim keeps, sent as it is: first token | {s('kept_alone_ttft_s')} |",
             f"| … the trim's own cost (the difference, in each run) | {s('trim_added_s')} |",
             f"| … while another user's question runs | {s('trimmed_meanwhile_ttft_s')} |",
             f"| \"{q['text']}\" alone: first token | {s('question_alone_ttft_s', 3)} |",
             f"| … sent halfway through the refused call: first token, and against alone | "
             f"{s('question_during_refused_ttft_s', 3)}; {x('question_during_refused_ratio')} |",
             f"| … sent halfway to the trimmed call's first token: the same | "
             f"{s('question_during_trimmed_ttft_s', 3)}; {x('question_during_trimmed_ratio')} |",
             f"| … its first token after the trimmed call's | {s('question_after_trimmed_first_token_s', 3)} |",
             "", f"The error: {'; '.join(rh['errors'])}",
             f"The question went out before the refusal in {q['sent_before_refusal']} of {r['runs']} runs, before the "
             f"trimmed call's first token in {q['sent_before_first_token']}; its answers: "
             f"{'; '.join(repr(a) for a in q['answers'])}.",
             f"Page up in {r['page_s']:.1f} s; waited {r['ir_wait_s']:.0f} s for the IR saved after the first load; "
             f"the bench took {r['total_s']:.0f} s; load average {r['load_average']['start']:.2f} at the start, "
             f"{r['load_average']['end']:.2f} at the end."]
    if r["failures"]:
        lines.append(f"Failures: {'; '.join(r['failures'])}")
    return "\n".join(lines)
