"""The engine's own options on the built-in model's int4 and fp16 conversions, through the real
openvino_genai engines: speculative decoding, prompt lookup, KV-cache precision, dynamic
quantization, the stateful engine and its compile cache, remembered per model."""

import threading

import pytest

from genai_ui.builtin import BUILTIN_ID
from genai_ui.engines.llm import GenerationParams
from genai_ui.engines.options import EngineOptions, EngineOptionsStore
from genai_ui.errors import DraftMismatch, InvalidParameter, NotAvailable
from tests.models import install_folder, smollm2_ir, smollm2_ir_fp16

GREEDY = GenerationParams(temperature=0.0, max_new_tokens=48)
CAPITAL = "What is the capital of France?"
# prompt lookup proposes what the prompt already holds: a request to repeat it gives it plenty
REPEAT = "Repeat this sentence twice, exactly: the quick brown fox jumps over the lazy dog near the river bank."


@pytest.fixture(scope="module")
def models(services):
    """The built-in model's own int4 and fp16 exports, in the library."""
    return (install_folder(services.library, "smollm2-int4", smollm2_ir(), "int4"),
            install_folder(services.library, "smollm2-fp16", smollm2_ir_fp16(), "fp16"))


@pytest.fixture(autouse=True)
def default_options(services, models):
    """Each test starts from the default options of both models, and leaves them so."""
    for entry in models:
        services.chat.options.set(entry.id, EngineOptions())
    yield
    for entry in models:
        services.chat.options.set(entry.id, EngineOptions())
    services.pipelines.unload("smollm2-int4")
    services.pipelines.unload("smollm2-fp16")


def answer(services, model, message=CAPITAL, params=GREEDY):
    *_, final = services.chat.reply(message=message, model=model, params=params)
    return final


def test_speculative_decoding_gives_the_same_greedy_answer_and_counts_accepted_tokens(services):
    plain = answer(services, "smollm2-fp16")
    assert "Paris" in plain.text and plain.metrics.accepted_tokens is None
    loaded = services.chat.set_options(model="smollm2-fp16", options=EngineOptions(draft_model="smollm2-int4",
                                                                                   assistant_tokens=4))
    assert loaded.load_ms > 0
    drafted = answer(services, "smollm2-fp16")
    assert drafted.text == plain.text
    m = drafted.metrics
    assert 0 < m.accepted_tokens < m.output_tokens  # the int4 draft of the same model guesses most tokens
    assert f"{m.accepted_tokens} proposed tokens accepted" in m.summary()
    # the next replies run on the engine loaded once: no reload, no load time in their metrics
    assert drafted.metrics.load_ms is None and services.pipelines.current("text-generation") is loaded


def test_speculative_decoding_serves_replies_at_once(services):
    """Replies added to the running engine are measured by their handles: each gives the answer it
    gives alone without a draft, and counts its own accepted tokens."""
    questions = [f"What is the capital of {country}?" for country in ("France", "Japan", "Germany")]
    alone = {q: answer(services, "smollm2-fp16", q).text for q in questions}
    services.chat.set_options(model="smollm2-fp16", options=EngineOptions(draft_model="smollm2-int4"))
    finals: dict[str, object] = {}

    def ask(question):
        finals[question] = answer(services, "smollm2-fp16", question)

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for question, city in zip(questions, ("Paris", "Tokyo", "Berlin")):
        assert finals[question].text == alone[question] and city in alone[question]
        assert 0 < finals[question].metrics.accepted_tokens < finals[question].metrics.output_tokens


def test_a_draft_with_another_tokenizer_is_refused(services, models, vision_model):
    """A draft whose tokenizer is the tiny LLaVA's: refused with the reason, and nothing changes."""
    folder = vision_model.load_path
    swapped = {name: folder / name for name in ("openvino_tokenizer.xml", "openvino_tokenizer.bin",
                                                 "openvino_detokenizer.xml", "openvino_detokenizer.bin")}
    install_folder(services.library, "other-tokenizer", smollm2_ir(), "int4", replace=swapped)
    try:
        before = services.chat.load(model="smollm2-fp16")
        with pytest.raises(DraftMismatch, match="'other-tokenizer' cannot draft for 'smollm2-fp16': its tokenizer "
                                                "splits text into other tokens"):
            services.chat.set_options(model="smollm2-fp16", options=EngineOptions(draft_model="other-tokenizer"))
        assert services.chat.options.get("smollm2-fp16") == EngineOptions()
        assert services.pipelines.current("text-generation") is before  # checked before anything was unloaded
        with pytest.raises(InvalidParameter, match="cannot be its own draft"):
            services.chat.set_options(model="smollm2-fp16", options=EngineOptions(draft_model="smollm2-fp16"))
        with pytest.raises(NotAvailable, match="'nowhere' is not in the library"):
            services.chat.set_options(model="smollm2-fp16", options=EngineOptions(draft_model="nowhere"))
    finally:
        services.library.delete("other-tokenizer")


def test_prompt_lookup_gives_the_same_greedy_answer(services):
    params = GenerationParams(temperature=0.0, max_new_tokens=40)
    plain = answer(services, "smollm2-int4", REPEAT, params)
    services.chat.set_options(model="smollm2-int4", options=EngineOptions(prompt_lookup=True, assistant_tokens=5))
    looked_up = answer(services, "smollm2-int4", REPEAT, params)
    assert looked_up.text == plain.text and "quick brown fox" in plain.text
    assert looked_up.metrics.accepted_tokens > 0


@pytest.mark.parametrize("precision", ["u8", "u4", "f16"])
def test_kv_cache_precision_still_answers_paris(services, precision):
    services.chat.set_options(model="smollm2-int4", options=EngineOptions(kv_cache_precision=precision,
                                                                          dq_group_size=64))
    assert "Paris" in answer(services, "smollm2-int4").text


def test_options_are_remembered_per_model_and_used_by_the_next_load(services, settings):
    chosen = EngineOptions(kv_cache_precision="u8", dq_group_size=0)
    services.chat.set_options(model="smollm2-int4", options=chosen)
    assert services.chat.options.get("smollm2-fp16") == EngineOptions()
    # a new start reads them back; a switch to another model and back loads with them again
    assert EngineOptionsStore(settings.home / "engine_options.json").get("smollm2-int4", "CPU") == chosen
    answer(services, BUILTIN_ID)
    final = answer(services, "smollm2-int4")
    assert "Paris" in final.text and final.metrics.load_ms > 0
    assert f"model loaded in {final.metrics.load_ms / 1000:.1f} s" in final.metrics.summary()
    assert services.pipelines.current("text-generation").options == chosen


def test_the_compile_cache_makes_the_second_load_faster(services, settings):
    """The stateful engine's compiled model is cached under the app's home: a second load of the same model
    on the same device reads it instead of compiling (the batching engine's paged model cannot be read back
    on a CPU: README). Relations, not times: the warm load against the same load with an empty cache."""
    import shutil

    cache = settings.compile_cache_dir
    stateful = EngineOptions(engine="stateful")
    cold, warm = [], []
    for _ in range(2):
        shutil.rmtree(cache, ignore_errors=True)
        services.pipelines.unload("smollm2-int4")
        cold.append(services.chat.set_options(model="smollm2-int4", options=stateful).load_ms)
        assert any(cache.glob("*.blob")), "the compiled model was not written to the cache"
        services.pipelines.unload("smollm2-int4")
        warm.append(services.chat.set_options(model="smollm2-int4", options=stateful).load_ms)
    assert min(cold) > 1.5 * max(warm), (cold, warm)
    assert "Paris" in answer(services, "smollm2-int4").text


def test_engine_options_check_themselves():
    with pytest.raises(InvalidParameter, match="cannot run together"):
        EngineOptions(draft_model="x", prompt_lookup=True)
    with pytest.raises(InvalidParameter, match="not the stateful one"):
        EngineOptions(prompt_lookup=True, engine="stateful")
    with pytest.raises(InvalidParameter, match="kv_cache_precision must be one of f16, u8, u4"):
        EngineOptions(kv_cache_precision="i3")
    with pytest.raises(InvalidParameter, match="dq_group_size must be one of 0, 32, 64, 128, 256"):
        EngineOptions(dq_group_size=48)
    with pytest.raises(InvalidParameter, match="assistant_tokens must be a whole number from 1 to 32"):
        EngineOptions(assistant_tokens=0)
    with pytest.raises(InvalidParameter, match="Unknown engine option"):
        EngineOptions.from_api({"kv_cache": "u8"})
    with pytest.raises(InvalidParameter, match="inference_precision must be one of f32, bf16, f16"):
        EngineOptions(inference_precision="fp8")
    with pytest.raises(InvalidParameter, match="threads must be a whole number from 1 to 1024"):
        EngineOptions(threads=-2)
    assert EngineOptions(inference_precision="f32", threads=1).properties() == {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
    assert EngineOptions(inference_precision="bf16", threads=2).describe() == "computes in bf16, 2 threads"


def test_a_precision_the_device_does_not_list_is_refused_in_words(services):
    """Checked against what the device lists (OPTIMIZATION_CAPABILITIES), before anything is unloaded: this
    CPU's own list, and a device injected to list FP32 alone (as an AMD EPYC does)."""
    import openvino as ov

    from genai_ui.engines.options import INFERENCE_PRECISIONS, precisions

    devices = services.chat.devices
    listed = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert precisions(devices, "CPU") == [p for p, c in INFERENCE_PRECISIONS.items() if c in listed]
    before = services.chat.load(model="smollm2-int4")
    original = devices.capabilities
    devices.capabilities = lambda device: frozenset({"FP32", "INT8"})
    try:
        with pytest.raises(InvalidParameter, match="CPU cannot compute in bf16: it lists f32. Pick one of those"):
            services.chat.set_options(model="smollm2-int4", options=EngineOptions(inference_precision="bf16"))
    finally:
        devices.capabilities = original
    assert services.chat.options.get("smollm2-int4", "CPU") == EngineOptions()
    assert services.pipelines.current("text-generation") is before


def test_inference_precision_and_threads_keep_the_greedy_answer_and_survive_a_restart(services, settings):
    """f32 is what every CPU lists. On a CPU whose default is f32 (an EPYC) the answer is the same to the
    character; on one that computes in bf16 by default (a Xeon with AMX) f32 is the more exact of the two."""
    import openvino as ov

    plain = answer(services, "smollm2-int4")
    chosen = EngineOptions(inference_precision="f32", threads=1)
    loaded = services.chat.set_options(model="smollm2-int4", device="CPU", options=chosen)
    assert loaded.options == chosen
    compiled = loaded.pipeline  # what the engine was given reaches the compiled model
    assert compiled is not None
    tuned = answer(services, "smollm2-int4")
    assert "Paris" in tuned.text and tuned.metrics.load_ms is None
    if str(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>":
        assert tuned.text == plain.text
    # a new start reads the choice back, for this device only
    again = EngineOptionsStore(settings.home / "engine_options.json")
    assert again.get("smollm2-int4", "CPU") == chosen and again.get("smollm2-int4", "GPU.0") == EngineOptions()
    services.pipelines.unload("smollm2-int4")
    assert services.chat.load(model="smollm2-int4", device="CPU").options == chosen


def test_options_are_remembered_per_device_over_those_for_every_device(tmp_path):
    import json

    path = tmp_path / "engine_options.json"
    path.write_text(json.dumps({"m": {"kv_cache_precision": "u8"}}))  # version 1: the same on every device
    store = EngineOptionsStore(path)
    assert store.get("m", "CPU") == store.get("m", "GPU.0") == EngineOptions(kv_cache_precision="u8")
    store.set("m", EngineOptions(inference_precision="f32"), "CPU")
    assert store.get("m", "CPU") == EngineOptions(inference_precision="f32")
    assert store.get("m", "GPU.0") == store.get("m") == EngineOptions(kv_cache_precision="u8")
    assert json.loads(path.read_text()) == {"version": 2, "models": {"m": {
        "*": EngineOptions(kv_cache_precision="u8").to_api(), "CPU": EngineOptions(inference_precision="f32").to_api()}}}
    # what a device would get anyway is not kept for it; options for every device replace each device's
    store.set("m", EngineOptions(kv_cache_precision="u8"), "CPU")
    assert set(json.loads(path.read_text())["models"]["m"]) == {"*"}
    store.set("m", EngineOptions(threads=1), "CPU")
    store.set("m", EngineOptions())
    assert store.get("m", "CPU") == EngineOptions() and json.loads(path.read_text())["models"] == {}


def test_a_property_the_device_does_not_take_is_refused_in_words(services):
    """A device that lists no KV-cache property (injected: every device here takes it)."""
    devices = services.chat.devices
    original = devices.properties
    devices.properties = lambda device: frozenset()
    try:
        with pytest.raises(InvalidParameter, match="CPU does not take a KV-cache precision"):
            services.chat.set_options(model="smollm2-int4", options=EngineOptions(kv_cache_precision="u8"))
    finally:
        devices.properties = original


def test_a_gguf_draft_is_refused_until_its_ir_is_saved(services, models, gguf):
    """openvino_genai drafts with an IR only: a GGUF draft is refused, and the IR it needs is being saved."""
    import os
    import time

    from genai_ui.builtin import GGUF_NAME
    from genai_ui.engines.options import saved_ir_files
    from genai_ui.library import ModelEntry

    with services.library.staging() as staged:
        os.link(gguf, staged / GGUF_NAME)
        entry = services.library.install(staged, ModelEntry(id="gguf-draft", task="text-generation", format="gguf",
                                                            weight_format="Q4_1", location="", model_file=GGUF_NAME,
                                                            context_length=8192))
    try:
        with pytest.raises(NotAvailable, match="'gguf-draft' is a GGUF; a draft must be an OpenVINO IR. The IR of "
                                               "'gguf-draft' is being saved beside it now"):
            services.chat.set_options(model="smollm2-fp16", options=EngineOptions(draft_model="gguf-draft"))
        # the save runs in the background, at the lowest priority; then the same choice is taken
        for _ in range(1800):
            if all(f.is_file() for f in saved_ir_files(entry)) and not (entry.load_path.parent / ".gguf").exists():
                break
            time.sleep(0.1)
        loaded = services.chat.set_options(model="smollm2-fp16", options=EngineOptions(draft_model="gguf-draft"))
        assert loaded.options.draft_path == str(entry.load_path.parent)
        assert "Paris" in answer(services, "smollm2-fp16").text
    finally:
        services.pipelines.unload("smollm2-fp16")
        services.library.delete("gguf-draft")


def test_a_deleted_draft_is_forgotten(services, settings):
    store = EngineOptionsStore(settings.home / "forget.json")
    store.set("main", EngineOptions(draft_model="small", kv_cache_precision="u8"))
    store.set("small", EngineOptions(kv_cache_precision="u4"))
    store.set("main", EngineOptions(draft_model="small", threads=1), "CPU")
    store.forget("small")
    assert store.get("small") == EngineOptions()
    assert store.get("main") == EngineOptions(kv_cache_precision="u8")
    assert store.get("main", "CPU") == EngineOptions(threads=1)
