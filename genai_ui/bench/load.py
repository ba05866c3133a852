"""`python -m genai_ui.bench load --users 8 --minutes 2`: many people chatting with the app at once.

The app runs on the built-in model in a subprocess, as users reach it. Each simulated user is
its own gradio_client session keeping its own conversation, and asks for short stories set in
its own two capitals in turn (no two users share a city). An answer that leaves out its own city
and names another user's counts as crosstalk (a story set in Beijing may well mention Tokyo;
one that has lost Beijing for another user's city is someone else's); one that only leaves out
its own city is counted apart, the small model's own doing. First the scaling: the combined
tokens/s of 1 user alone, then of 4 at once; then the load itself: errors, crosstalk, latency,
throughput, and the app's memory after warm-up against the end.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .common import launch_app, save_result, stop, tree_rss

CAPITALS = {"France": "Paris", "Italy": "Rome", "Japan": "Tokyo", "Germany": "Berlin", "Egypt": "Cairo",
            "Canada": "Ottawa", "Russia": "Moscow", "China": "Beijing", "England": "London", "Greece": "Athens",
            "Kenya": "Nairobi", "Peru": "Lima", "Norway": "Oslo", "Portugal": "Lisbon", "Austria": "Vienna",
            "Spain": "Madrid"}
MAX_NEW_TOKENS = 96  # a few sentences: replies as people read them (stories run to the limit)
KEPT_TURNS = 1  # each user sends its last exchange along, as a chat page does


@dataclass
class UserLog:
    countries: list[str]
    replies: int = 0
    tokens: int = 0
    errors: list[str] = field(default_factory=list)
    crosstalk: list[str] = field(default_factory=list)  # another user's capital in the answer
    wrong: list[str] = field(default_factory=list)  # its own city missing, no one else's there
    latencies: list[float] = field(default_factory=list)


def countries_of(user: int, users: int) -> list[str]:
    names = list(CAPITALS)
    if users * 2 > len(names):
        raise SystemExit(f"at most {len(names) // 2} users: each needs two countries of its own")
    return [names[user], names[user + users]]


def question_about(country: str) -> str:
    return f"Write a short story set in {CAPITALS[country]}, the capital of {country}."


def gradio_asker(url: str) -> Callable[[str, list[dict]], str]:
    """A person as a gradio_client session: (question, history) → the whole answer."""
    from ..ui.client import chat_reply, connect

    client = connect(url)
    return lambda question, history: chat_reply(client, question, history, MAX_NEW_TOKENS)


def http_asker(url: str) -> Callable[[str, list[dict]], str]:
    """A person as light as a browser tab: Gradio's HTTP API read with httpx. gradio_client's own threads
    (a reader that polls every 50 ms) would take the server's CPU on the same 2 cores, and the scaling
    would then measure the clients."""
    import httpx

    from .common import sse_call

    http = httpx.Client(timeout=300)

    def ask(question: str, history: list[dict]) -> str:
        _, _, text = sse_call(http, url, "chat", [question, history, "", "", MAX_NEW_TOKENS, 0.0, 1.0, 0, 1.0, -1, ""])
        if not text:
            raise RuntimeError("no answer came back")
        return text

    return ask


def chat_user(url: str, log: UserLog, others: set[str], until: float, count_tokens,
              asker: Callable[[str], Callable[[str, list[dict]], str]] = gradio_asker) -> None:
    ask = asker(url)
    history: list[dict] = []
    turn = 0
    while time.monotonic() < until:
        country = log.countries[turn % 2]
        question = question_about(country)
        started = time.monotonic()
        try:
            answer = ask(question, history[-2 * KEPT_TURNS:])
        except Exception as err:  # counted, and the user goes on as a person would
            log.errors.append(f"{country}: {err}")
            turn += 1
            continue
        log.latencies.append(time.monotonic() - started)
        log.replies += 1
        log.tokens += count_tokens(answer)
        if CAPITALS[country] not in answer:  # another's story would name another's city instead
            (log.crosstalk if any(capital in answer for capital in others) else log.wrong).append(
                f"{country}: {answer!r}")
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        turn += 1


def run_users(url: str, users: int, seconds: float, count_tokens,
              asker: Callable[[str], Callable[[str, list[dict]], str]] = gradio_asker) -> tuple[list[UserLog], float]:
    logs = [UserLog(countries_of(i, users)) for i in range(users)]
    mine = [{CAPITALS[c] for c in log.countries} for log in logs]
    until = time.monotonic() + seconds
    others = [set().union(*(m for j, m in enumerate(mine) if j != i)) for i in range(users)]
    threads = [threading.Thread(target=chat_user, args=(url, log, others[i], until, count_tokens, asker))
               for i, log in enumerate(logs)]
    start = time.monotonic()
    [t.start() for t in threads]
    [t.join() for t in threads]
    return logs, time.monotonic() - start


def bench_load(users: int, minutes: float, output: Path, scaling_seconds: float = 30.0) -> dict:
    import openvino_genai as og

    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="genai-ui-bench-load-") as home:
        server, url, _ = launch_app(home)
        try:
            from ..ui.client import chat_reply, connect

            chat_reply(connect(url), "Hello", [], 8)  # loads the model
            model_dir = next(Path(home, "models").iterdir())
            tokenizer = og.Tokenizer(str(model_dir))  # the IR the engine saved beside the GGUF

            def count_tokens(text: str) -> int:
                return int(tokenizer.encode(text, add_special_tokens=False).input_ids.get_shape()[1])

            scaling = {}
            for n in (1, 4):
                logs, took = run_users(url, n, scaling_seconds, count_tokens, http_asker)
                scaling[n] = sum(log.tokens for log in logs) / took
            warm_until = time.monotonic() + min(20.0, minutes * 60 / 4)
            samples: list[tuple[float, int]] = []
            done = threading.Event()

            def sample_memory() -> None:
                while not done.wait(1.0):
                    samples.append((time.monotonic(), tree_rss(server.pid)))

            sampler = threading.Thread(target=sample_memory, daemon=True)
            sampler.start()
            logs, took = run_users(url, users, minutes * 60, count_tokens)
            done.set()
            sampler.join()
        finally:
            stop(server)
        service = service_scaling(Path(home), scaling_seconds)
        engine = engine_scaling(model_dir, scaling_seconds)
    after_warmup = [rss for t, rss in samples if t >= warm_until] or [rss for _, rss in samples]
    latencies = sorted(x for log in logs for x in log.latencies)
    result = {
        "users": users, "seconds": round(took, 1), "max_new_tokens": MAX_NEW_TOKENS,
        "replies": sum(log.replies for log in logs), "errors": sum(len(log.errors) for log in logs),
        "crosstalk": sum(len(log.crosstalk) for log in logs),
        "own_city_missing": sum(len(log.wrong) for log in logs),
        "tokens_per_s": round(sum(log.tokens for log in logs) / took, 1),
        "latency_median_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_p95_s": round(latencies[int(len(latencies) * 0.95)], 2) if latencies else None,
        "rss_after_warmup_mb": round(after_warmup[0] / 2**20), "rss_end_mb": round(after_warmup[-1] / 2**20),
        "rss_peak_mb": round(max(after_warmup) / 2**20),
        "memory_growth": round(after_warmup[-1] / after_warmup[0] - 1, 3),
        "scaling_tokens_per_s": {str(n): round(v, 1) for n, v in scaling.items()},
        "four_users_vs_one": round(scaling[4] / scaling[1], 2) if scaling[1] else None,
        "service_tokens_per_s": {str(n): round(v, 1) for n, v in service.items()},
        "service_four_vs_one": round(service[4] / service[1], 2),
        "engine_tokens_per_s": {str(n): round(v, 1) for n, v in engine.items()},
        "engine_four_vs_one": round(engine[4] / engine[1], 2),
        "examples": {log.countries[0]: (log.crosstalk + log.errors + log.wrong)[:2] for log in logs
                     if log.crosstalk or log.errors or log.wrong},
    }
    save_result(output, "load", result)
    print(load_table(result))
    return result


def service_scaling(home: Path, seconds: float, max_new_tokens: int = MAX_NEW_TOKENS) -> dict[int, float]:
    """The app's own chat service on the same home, in this process, without the web server: 1 person, then 4,
    each a thread asking as the bench's people do; tokens as the engine counted them."""
    from ..engines.llm import GenerationParams
    from ..services import create_services
    from ..settings import Settings

    services = create_services(Settings(home=home, device="CPU", no_auto_tune=True))
    params = GenerationParams(temperature=0.0, max_new_tokens=max_new_tokens)
    list(services.chat.reply(message="Hello", params=params))  # loads the model

    def person(countries: list[str], until: float, made: list[int]) -> None:
        history: list[dict] = []
        turn = 0
        while time.monotonic() < until:
            question = question_about(countries[turn % 2])
            *_, final = services.chat.reply(message=question, history=history[-2 * KEPT_TURNS:], params=params)
            made.append(final.metrics.output_tokens)
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": final.text}]
            turn += 1

    speeds = {}
    try:
        for n in (1, 4):
            made: list[int] = []
            start = time.monotonic()
            threads = [threading.Thread(target=person, args=(countries_of(i, n), start + seconds, made))
                       for i in range(n)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            speeds[n] = sum(made) / (time.monotonic() - start)
    finally:
        services.pipelines.close()
    return speeds


def engine_scaling(model_dir: Path, seconds: float, max_new_tokens: int = MAX_NEW_TOKENS) -> dict[int, float]:
    """The engine alone, in this process, with the app's scheduler settings: tokens/s of one greedy reply at
    a time, then of 4 started together, each for `seconds`: the most the app's scaling could be. Each prompt
    is what a person of the bench sends: the last exchange (a question and the engine's own answer to it),
    then the new question, so that the prefills weigh as much as in the app's figure."""
    import openvino_genai as og

    from ..engines.pipelines import MAX_BATCH

    scheduler = og.SchedulerConfig()
    scheduler.max_num_seqs, scheduler.enable_prefix_caching = MAX_BATCH, True
    pipe = og.ContinuousBatchingPipeline(str(model_dir), scheduler, "CPU", {})
    tokenizer = pipe.get_tokenizer()

    def encoded(messages: list[dict]):
        return tokenizer.encode(tokenizer.apply_chat_template(messages, add_generation_prompt=True),
                                add_special_tokens=False).input_ids

    config = og.GenerationConfig()  # greedy, ending at the model's end token as the app's replies do
    config.max_new_tokens, config.eos_token_id = max_new_tokens, tokenizer.get_eos_token_id()
    countries = countries_of(0, 4) + countries_of(1, 4) + countries_of(2, 4) + countries_of(3, 4)
    earlier = [{"role": "user", "content": question_about(c)} for c in countries[1::2]]
    answers = [tokenizer.decode(r.m_generation_ids[0]) for r in pipe.generate([encoded([m]) for m in earlier],
                                                                                [config] * len(earlier))]
    prompts = [encoded([asked, {"role": "assistant", "content": answer},
                        {"role": "user", "content": question_about(c)}])
               for asked, answer, c in zip(earlier, answers, countries[::2])]
    speeds = {}
    for n in (1, 4):
        tokens, turn, start = 0, 0, time.monotonic()
        while time.monotonic() - start < seconds:
            batch = [prompts[(turn + k) % len(prompts)] for k in range(n)]
            tokens += sum(len(r.m_generation_ids[0]) for r in pipe.generate(batch, [config] * n))
            turn += 1
        speeds[n] = tokens / (time.monotonic() - start)
    return speeds


def load_table(r: dict) -> str:
    one, four = r["scaling_tokens_per_s"]["1"], r["scaling_tokens_per_s"]["4"]
    missing = r["own_city_missing"]

    def seconds(value) -> str:  # None: no reply came back
        return "–" if value is None else f"{value:.1f} s"

    four_x = "–" if r["four_users_vs_one"] is None else f"{r['four_users_vs_one']:.2f}"

    def times_one(value: float) -> str:  # against one person alone (who may have got nothing)
        return f"{value / one:.1f}×" if one else "–×"

    return "\n".join([
        f"{r['users']} people chatting for {r['seconds'] / 60:.1f} minutes, greedy, up to "
        f"{r.get('max_new_tokens', MAX_NEW_TOKENS)} new tokens a reply", "", "| | measured |", "| --- | ---: |",
        f"| 1 person alone | {one:.1f} tokens/s |",
        f"| 4 people at once, in all | {four:.1f} tokens/s: **{four_x}×** one alone (target ≥ 2.5) |",
        *([f"| the app's chat service in one process, no web server: 4 people | "
           f"{r['service_tokens_per_s']['4']:.1f} tokens/s: {r['service_four_vs_one']:.2f}× one alone "
           f"({r['service_tokens_per_s']['1']:.1f}) |"] if "service_four_vs_one" in r else []),
        *([f"| the engine alone, 4 replies started together | {r['engine_tokens_per_s']['4']:.1f} tokens/s: "
           f"{r['engine_four_vs_one']:.2f}× one alone ({r['engine_tokens_per_s']['1']:.1f}) |"]
          if "engine_four_vs_one" in r else []),
        f"| {r['users']} people, in all | {r['tokens_per_s']:.1f} tokens/s ({times_one(r['tokens_per_s'])} one "
        f"alone), {r['replies']} replies |",
        f"| errors | **{r['errors']}** |",
        f"| crosstalk | **{r['crosstalk']}** ({missing} stor{'y' if missing == 1 else 'ies'} left out their own "
        "city and named no one else's) |",
        f"| reply time, median / 95th percentile | {seconds(r['latency_median_s'])} / {seconds(r['latency_p95_s'])} |",
        f"| app memory after warm-up → at the end | {r['rss_after_warmup_mb']} MB → {r['rss_end_mb']} MB: "
        f"**{r['memory_growth']:+.1%}** (target < 10%) |"])
