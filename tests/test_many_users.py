"""Several people at once: their replies run together in the engine and never mix."""

from __future__ import annotations

import threading

from genai_ui.builtin import BUILTIN_ID
from genai_ui.engines.chat import GenerationParams

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
    story_started, story_ended = threading.Event(), {}

    def follow_story() -> None:
        for _ in story:
            story_started.set()
        story_ended["at"] = time.monotonic()
        story_started.set()

    follower = threading.Thread(target=follow_story)
    follower.start()
    assert story_started.wait(timeout=120)
    start = threading.Barrier(len(clients))
    answers, last_update, errors = {}, {}, []

    def ask(country: str) -> None:
        try:
            start.wait()
            job = clients[country].submit(f"What is the capital of {country}?", [], "", "", 48, 0.0, api_name="/chat")
            for text in job:
                answers[country] = text
            last_update[country] = time.monotonic()
        except Exception as err:  # reported below, with the country
            errors.append(f"{country}: {err!r}")

    threads = [threading.Thread(target=ask, args=(c,)) for c in CAPITALS]
    [t.start() for t in threads]
    [t.join(timeout=300) for t in threads]
    follower.join(timeout=300)
    assert not errors
    for country, capital in CAPITALS.items():
        others = [c for c in CAPITALS.values() if c != capital]
        assert capital in answers[country], (country, answers[country])
        assert not any(other in answers[country] for other in others), (country, answers[country])
    assert len(story.outputs()[-1]) > 500, "the story ran its 256 tokens"
    assert max(last_update.values()) < story_ended["at"], "the four were answered while the story streamed"


def test_the_engine_batches_replies(services):
    """The chat engine serves concurrent replies in one batch: every reply has its first token
    before any has its last (the bench measures the speed-up; this checks they overlap)."""
    entry = services.library.get(BUILTIN_ID)
    loaded = services.pipelines.get(entry, "CPU")
    assert getattr(loaded.pipeline, "concurrent", False), "the batching engine serves chat on CPU"
    params = GenerationParams(max_new_tokens=24, temperature=0.0, ignore_eos=True)
    spans: dict[str, tuple[float, float]] = {}

    def reply(country: str) -> None:
        import time

        begun = None  # the first token: replies run one after another would each start after the last ended
        for update in services.chat.reply(message=f"What is the capital of {country}?", params=params):
            begun = begun or time.monotonic()
        spans[country] = (begun, time.monotonic())
        assert update.metrics.output_tokens == 24

    threads = [threading.Thread(target=reply, args=(c,)) for c in CAPITALS]
    [t.start() for t in threads]
    [t.join(timeout=300) for t in threads]
    assert len(spans) == 4
    assert max(b for b, _ in spans.values()) < min(e for _, e in spans.values())


def test_stopping_one_reply_leaves_the_others_running(services):
    import time

    params = GenerationParams(max_new_tokens=40, temperature=0.0, ignore_eos=True)
    stop_me = threading.Event()
    results = {}

    def reply(name: str, cancel: threading.Event) -> None:
        *_, last = services.chat.reply(message="Tell me about the sea.", params=params, cancel=cancel)
        results[name] = last.metrics

    threads = [threading.Thread(target=reply, args=("stopped", stop_me)),
               threading.Thread(target=reply, args=("kept", threading.Event()))]
    [t.start() for t in threads]
    time.sleep(0.5)
    stop_me.set()
    [t.join(timeout=300) for t in threads]
    assert results["stopped"].finish == "cancelled" and results["stopped"].output_tokens < 40
    assert results["kept"].finish == "length" and results["kept"].output_tokens == 40
