"""Tune: the fastest engine options for a model on a device, measured on the real engine; the rules it
chooses by (same answers, faster in every round) on measurements injected where they must be exact."""

import threading

import pytest

from genai_ui.access import Caller
from genai_ui.builtin import BUILTIN_ID
from genai_ui.engines.llm import GenerationParams
from genai_ui.engines.options import EngineOptions, EngineOptionsStore
from genai_ui.errors import Busy, Cancelled, InvalidParameter, NotAllowed
from genai_ui.run.probes import Probe, Tuner, Variant, search, settings_to_try
from genai_ui.run.tune import TuneService


class Measured:
    """A tuner whose probes give chosen figures: (tokens/s of each round, text) per variant."""

    def __init__(self, figures: dict[EngineOptions, tuple[list[float], str]]) -> None:
        self.figures = figures

    def measure(self, variants, what=""):
        return [Probe(tokens_per_s=self.figures[v.options][0], ttft_ms=[10.0] * len(self.figures[v.options][0]),
                       text=self.figures[v.options][1]) if self.figures[v.options] else
                Probe(error="KV_CACHE_PRECISION is not supported") for v in variants]


def test_a_faster_variant_with_another_answer_is_never_chosen_and_a_tie_is_kept():
    base, off, g64, f16 = EngineOptions(), EngineOptions(dq_group_size=0), EngineOptions(dq_group_size=64), \
        EngineOptions(kv_cache_precision="f16")
    tuner = Measured({
        base: ([100, 100, 100], "Paris"),
        off: ([150, 150, 150], "Lyon"),  # fastest, but answers otherwise
        g64: ([101.5, 101.5, 101.5], "Paris"),  # 1.5% faster every round: within noise, not taken
        f16: ([110, 90, 130], "Paris"),  # faster at the median, not in every round
    })
    steps = [("dynamic quantization", [base, off, g64]), ("KV-cache precision", [base, f16])]
    rows, winner, speedup, answer = search(tuner, steps, ["Paris"])
    assert winner == base and speedup == 1.0 and answer == "Paris"
    assert [(r.label, r.same_answer, r.chosen) for r in rows] == [
        ("default options", True, True), ("dynamic quantization off", False, False),
        ("dynamic quantization group 64", True, False), ("default options", True, True),
        ("KV cache f16", True, False)]


def test_a_variant_that_cannot_run_is_reported_and_the_others_go_on():
    base, u4, off = EngineOptions(), EngineOptions(kv_cache_precision="u4"), EngineOptions(dq_group_size=0)
    tuner = Measured({base: ([100, 100, 100], "Paris"), u4: None, off: ([120, 120, 120], "Paris")})
    rows, winner, _, _ = search(tuner, [("KV-cache precision", [base, u4]), ("dynamic quantization", [base, off])],
                                ["Paris"])
    assert winner == off
    failed = next(r for r in rows if r.options == u4)
    assert failed.label == "KV cache u4 (could not run here: KV_CACHE_PRECISION is not supported)"
    assert not failed.chosen and not failed.same_answer and failed.tokens_per_s == 0.0


def test_each_step_starts_from_the_best_so_far_and_the_speedups_multiply():
    base, off = EngineOptions(), EngineOptions(dq_group_size=0)
    both = EngineOptions(dq_group_size=0, kv_cache_precision="f16")
    tuner = Measured({base: ([100, 101, 99], "Paris"), off: ([110, 112, 108], "Paris"),
                      both: ([121, 123, 119], "Paris")})
    steps = [("dynamic quantization", [base, off]),
             ("KV-cache precision", [base, EngineOptions(kv_cache_precision="f16")])]
    rows, winner, speedup, _ = search(tuner, steps, ["Paris"])
    assert winner == both  # the KV step tried f16 on top of dq off, not on the defaults
    assert [r.options for r in rows if r.chosen] == [off, both]
    assert speedup == pytest.approx((110 / 100) * (121 / 110), rel=0.02)


def test_the_engines_a_step_loaded_serve_the_next_step_and_are_unloaded_at_the_end():
    """The best so far is in every step: its engine is loaded once, not once a step; what the next step does
    not measure is unloaded before it loads anything; nothing is left loaded after the tune."""
    loads, closed = [], []

    class Engine:
        def __init__(self, variant):
            self.variant = variant

        def close(self, wait):
            closed.append(self.variant.options)

    class Probed(Tuner):
        def _probe(self, engine):
            return "Paris", type("Outcome", (), {"tokens_per_s": 100.0, "ttft_ms": 10.0})()

    base, off, f16 = EngineOptions(), EngineOptions(dq_group_size=0), EngineOptions(kv_cache_precision="f16")
    with Probed(lambda v: (loads.append(v.options), Engine(v))[1], model_bytes=1, rounds=2) as tuner:
        first = tuner.measure([Variant(base), Variant(off)])
        assert closed == []  # kept for the next step
        second = tuner.measure([Variant(base), Variant(f16)])
        assert closed == [off]  # not measured again: unloaded before f16 was loaded
        assert loads == [base, off, f16]  # the defaults once, for both steps
        assert second[0].load_s == first[0].load_s > 0 and second[0].text == "Paris"
    assert sorted(closed, key=repr) == sorted([off, base, f16], key=repr)


def test_only_what_the_device_takes_is_tried(services):
    devices = services.chat.devices
    entry = services.library.get(BUILTIN_ID)
    names = [name for name, _ in settings_to_try(devices, "CPU", entry, EngineOptions())]
    assert names[-4:] == ["engine", "dynamic quantization", "KV-cache precision", "threads"]
    original = devices.properties
    devices.properties = lambda device: frozenset()  # a device that lists none of them
    try:
        assert [n for n, _ in settings_to_try(devices, "CPU", entry, EngineOptions(), allow_stateful=False)] in (
            [], ["inference precision"])
    finally:
        devices.properties = original


@pytest.fixture
def tuning(services, settings):
    """The real service on the built-in model, with short probes; the model's options put back after."""
    service = TuneService(services.chat, settings, rounds=1, tokens=12)
    yield service
    services.chat.options.set(BUILTIN_ID, EngineOptions())


def test_tune_measures_every_setting_and_applies_a_winner_that_answers_the_same(tuning, services, settings):
    seen = []
    report = tuning.tune(model=BUILTIN_ID, device="CPU", progress=lambda done, total, what: seen.append((done, total)))
    settings_tried = {r.setting for r in report.rows}
    assert {"model file", "engine", "dynamic quantization", "KV-cache precision", "threads"} <= settings_tried
    assert all(r.tokens_per_s > 0 and r.ttft_ms > 0 and r.load_s > 0 for r in report.rows)
    chosen = [r for r in report.rows if r.chosen]
    assert chosen and all(r.same_answer for r in chosen)
    confirm = [r for r in report.rows if r.setting == "confirm"]  # a winner other than the defaults, measured again
    if confirm and not confirm[0].chosen:
        assert report.winner == EngineOptions() and "the defaults stay" in report.notes[-1]
    else:
        assert chosen[-1].options == report.winner and report.speedup >= 1.0
    assert report.answer
    assert seen[-1][0] == seen[-1][1] and all(done <= total for done, total in seen)  # the bar ends full
    assert "cores" in report.cpu
    # applied and remembered for the model on the device; a new start reads it back
    assert services.chat.options.get(BUILTIN_ID, "CPU") == report.winner
    assert EngineOptionsStore(settings.home / "engine_options.json").get(BUILTIN_ID, "CPU") == report.winner
    assert tuning.last(BUILTIN_ID, "CPU")["winner"] == report.winner.to_api()
    final = list(services.chat.reply(message="What is the capital of France?", model=BUILTIN_ID,
                                     params=GenerationParams(temperature=0.0, max_new_tokens=32)))[-1]  # greedy
    assert "Paris" in final.text


def test_tune_is_stopped_by_cancel_one_at_a_time_and_by_the_shared_rule(tuning, services):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match="nothing was changed"):
        tuning.tune(model=BUILTIN_ID, cancel=cancel)
    assert services.chat.options.get(BUILTIN_ID, "CPU") == EngineOptions()
    tuning._running.acquire()
    try:
        with pytest.raises(Busy, match="A tune is running already"):
            tuning.tune(model=BUILTIN_ID)
    finally:
        tuning._running.release()
    with pytest.raises(InvalidParameter, match="AUTO picks a device itself"):
        tuning.tune(model=BUILTIN_ID, device="AUTO")
    visitor = Caller(shared=True, operator=False)
    with pytest.raises(NotAllowed, match="set by this shared deployment's operator"):
        tuning.tune(model=BUILTIN_ID, caller=visitor)


@pytest.fixture
def short_probes(services):
    """The app's own tune service with short probes, and the built-in model's options put back after."""
    rounds, tokens = services.tune.rounds, services.tune.tokens
    services.tune.rounds, services.tune.tokens, services.tune.only = 1, 12, ("threads",)  # the full search: above
    yield services.tune
    services.tune.rounds, services.tune.tokens, services.tune.only = rounds, tokens, ()
    services.chat.options.set(BUILTIN_ID, EngineOptions())


def test_tune_model_over_the_api_measures_without_applying(client, services, short_probes):
    from gradio_client.exceptions import AppError

    report = client.predict(BUILTIN_ID, "CPU", False, api_name="/tune_model")
    assert report["model"] == BUILTIN_ID and report["device"] == "CPU" and report["applied"] is False
    assert report["rows"] and all(r["tokens_per_s"] > 0 for r in report["rows"])
    confirm = [r for r in report["rows"] if r["setting"] == "confirm"]  # a winner, measured again
    if confirm and not confirm[0]["chosen"]:  # not faster the second time: the defaults stay
        assert report["winner"] == EngineOptions().to_api() and "the defaults stay" in report["notes"][-1]
    else:
        assert [r for r in report["rows"] if r["chosen"]][-1]["engine_options"] == report["winner"]
    assert services.chat.options.get(BUILTIN_ID, "CPU") == EngineOptions()  # measured only
    with pytest.raises(AppError, match="No model 'nowhere' in the library"):
        client.predict("nowhere", "CPU", False, api_name="/tune_model")


def test_a_models_first_load_tunes_it_in_the_background_once_never_over_a_persons_choice(tmp_path, gguf,
                                                                                         monkeypatch):
    """With the first-load tune on (the tests turn it off elsewhere): a reply loads the model; once the
    machine is quiet the tune runs, and its winner is remembered. A model whose options a person chose
    is left alone, and a second load does not tune again."""
    import time

    from genai_ui.run import tune as tune_module
    from genai_ui.services import create_services
    from genai_ui.settings import Settings

    monkeypatch.setattr(tune_module, "IDLE_S", 1.0)
    # the processor is never idle while another test worker runs: only this app's own replies hold the tune back
    # here (the processor's share of the rule: the test after this one)
    monkeypatch.setattr(tune_module, "BUSY_CPU_PERCENT", 100.0)
    settings = Settings(home=tmp_path, device="CPU", no_auto_tune=False)
    services = create_services(settings)
    services.tune.rounds, services.tune.tokens, services.tune.only = 1, 12, ("threads",)
    started = []
    original = services.tune._background
    services.tune._background = lambda *args: (started.append(args), original(*args))
    *_, final = services.chat.reply(message="What is the capital of France?", model=BUILTIN_ID,
                                    params=GenerationParams(temperature=0.0, max_new_tokens=32))  # greedy
    assert "Paris" in final.text
    for _ in range(600):
        if services.tune.last(BUILTIN_ID, "CPU") is not None and not services.tune._running.locked():
            break
        time.sleep(0.5)
    report = services.tune.last(BUILTIN_ID, "CPU")
    assert report is not None, "the background tune did not run"
    assert services.chat.options.get(BUILTIN_ID, "CPU") == EngineOptions.from_api(report["winner"])
    list(services.chat.reply(message="And of Italy?", model=BUILTIN_ID))
    assert started == [(BUILTIN_ID, "CPU")]  # once

    chosen = EngineOptions(kv_cache_precision="u8")
    services.chat.options.set(BUILTIN_ID, chosen, "GPU.0")  # as a person would on another device
    services.tune._scheduled.clear()
    services.tune.on_load(services.library.get(BUILTIN_ID), "GPU.0")
    assert started == [(BUILTIN_ID, "CPU")]  # not tuned over a person's choice
    services.pipelines.close()


def test_a_background_tune_also_waits_for_a_quiet_processor(monkeypatch):
    """Another program keeping the processor busy holds the background tune back too, until a quiet spell."""
    import types

    import psutil

    from genai_ui.run import tune as tune_module

    readings = [95.0, 60.0, 10.0]
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval: readings.pop(0))
    monkeypatch.setattr(tune_module, "IDLE_S", 0.0)
    TuneService(types.SimpleNamespace(replying=0), settings=None)._wait_until_idle()
    assert readings == []  # it started after the first reading under BUSY_CPU_PERCENT, not before
