"""Several people at once: their replies run together in the engine and never mix."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from genai_ui.builtin import BUILTIN_ID
from genai_ui.engines.llm import GenerationParams

CAPITALS = {"France": "Paris", "Italy": "Rome", "Japan": "Tokyo", "Germany": "Berlin"}


def test_four_sessions_at_once_each_get_their_own_answer(app_url):
    """Four gradio_client sessions ask at the same moment while a fifth is streaming a long story;
    each answer names its own capital and no other, and all four were answered while the story was
    still streaming (served alongside it, not queued behind it). Their replies are a few tokens, too
    short to compare their own start and end times across five HTTP streams."""
    import time

    from gradio_client import Client

    clients = {country: Client(app_url, verbose=False) for country in CAPITALS}
    story_client = Client(app_url, verbose=False)
    story = story_client.submit("Write a long story about a lighthouse keeper.", [], "", "", 256, 0.0,
                                api_name="/chat")
    story_started = threading.Event()

    def follow_story() -> float:
        """When the story ended."""
        try:
            for _ in story:
                story_started.set()
            return time.monotonic()
        finally:
            story_started.set()  # a story that failed must not leave the test waiting for it

    start = threading.Barrier(len(clients))

    def ask(country: str) -> tuple[str, float]:
        """The answer, and when its last update came."""
        try:
            start.wait()
            job = clients[country].submit(f"What is the capital of {country}?", [], "", "", 48, 0.0, api_name="/chat")
            answer = ""
            for answer in job:
                pass
            return answer, time.monotonic()
        except Exception as err:
            err.add_note(f"asking the capital of {country}")
            raise

    # each thread hands back its result or its exception; the checks run here, in the test's thread
    with ThreadPoolExecutor(max_workers=len(CAPITALS) + 1) as pool:
        follower = pool.submit(follow_story)
        assert story_started.wait(timeout=120)
        asked = {country: pool.submit(ask, country) for country in CAPITALS}
        replies = {country: future.result(timeout=300) for country, future in asked.items()}
        story_ended = follower.result(timeout=300)
    for country, capital in CAPITALS.items():
        answer, _ = replies[country]
        others = [c for c in CAPITALS.values() if c != capital]
        assert capital in answer, (country, answer)
        assert not any(other in answer for other in others), (country, answer)
    assert len(story.outputs()[-1]) > 500, "the story ran its 256 tokens"
    assert max(at for _, at in replies.values()) < story_ended, "the four were answered while the story streamed"


def test_the_engine_batches_replies(services):
    """The chat engine serves concurrent replies in one batch: every reply has its first token
    before any has its last (the bench measures the speed-up; this checks they overlap)."""
    entry = services.library.get(BUILTIN_ID)
    loaded = services.pipelines.get(entry, "CPU")
    assert getattr(loaded.pipeline, "concurrent", False), "the batching engine serves chat on CPU"
    params = GenerationParams(max_new_tokens=24, temperature=0.0, ignore_eos=True)

    def reply(country: str) -> tuple[float, float, int]:
        """When the first and the last token came, and how many tokens."""
        import time

        begun = None  # the first token: replies run one after another would each start after the last ended
        for update in services.chat.reply(message=f"What is the capital of {country}?", params=params):
            begun = begun or time.monotonic()
        return begun, time.monotonic(), update.metrics.output_tokens

    with ThreadPoolExecutor(max_workers=len(CAPITALS)) as pool:
        spans = list(pool.map(reply, CAPITALS, timeout=300))  # a thread's exception is raised here
    assert [tokens for *_, tokens in spans] == [24] * 4
    assert max(b for b, _, _ in spans) < min(e for _, e, _ in spans)


def test_stopping_one_reply_leaves_the_others_running(services):
    import time

    params = GenerationParams(max_new_tokens=40, temperature=0.0, ignore_eos=True)
    stop_me = threading.Event()

    def reply(cancel: threading.Event):
        *_, last = services.chat.reply(message="Tell me about the sea.", params=params, cancel=cancel)
        return last.metrics

    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = [pool.submit(reply, stop_me), pool.submit(reply, threading.Event())]
        time.sleep(0.5)
        stop_me.set()
        stopped, kept = (r.result(timeout=300) for r in replies)  # or a thread's exception, raised here
    assert stopped.finish == "cancelled" and stopped.output_tokens < 40
    assert kept.finish == "length" and kept.output_tokens == 40
