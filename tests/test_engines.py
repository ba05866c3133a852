"""Two engines: openvino_genai first, optimum-intel's OVModelForCausalLM for what it cannot run,
on a tiny random GPT-NeoX-Japanese (its tokenizer does not convert to OpenVINO; its attention
cannot be paged) and on the built-in model's int4 export."""

import threading

import pytest

from genai_ui.engines.llm import GenerationParams
from genai_ui.engines.options import EngineOptions
from genai_ui.hub.support import check_support
from tests.models import install_folder, openvino_tokenizer_files, smollm2_ir, tiny_neox_japanese

# sampled: the random model's likeliest token is a special one, which a reply does not show
SHORT = GenerationParams(temperature=1.0, top_k=0, top_p=1.0, seed=1, max_new_tokens=24, ignore_eos=True)


@pytest.fixture(scope="module")
def neox(services):
    entry = install_folder(services.library, "tiny-neox-japanese", tiny_neox_japanese(), "fp32")
    yield entry
    services.pipelines.unload(entry.id)
    services.library.delete(entry.id)


def test_a_model_openvino_genai_cannot_run_streams_on_the_optimum_intel_engine(services, neox):
    updates = list(services.chat.reply(message="Hello, what is the capital of France?", model=neox.id, params=SHORT))
    loaded = services.pipelines.current("text-generation")
    assert loaded.engine == "optimum" and not loaded.concurrent
    assert len(updates) > 2 and all(updates[i].text.startswith(updates[i - 1].text) for i in range(1, len(updates)))
    m = updates[-1].metrics
    assert m.engine == "Optimum Intel engine" and m.summary().startswith("Optimum Intel engine · model loaded in")
    assert m.output_tokens == 24 and m.finish == "length" and m.ttft_ms > 0 and m.tokens_per_s > 0


def test_stop_ends_the_optimum_intel_engine_too(services, neox):
    cancel = threading.Event()
    params = GenerationParams(temperature=1.0, top_k=0, top_p=1.0, seed=1, max_new_tokens=400, ignore_eos=True)
    for n, update in enumerate(services.chat.reply(message="Hello", model=neox.id, params=params, cancel=cancel)):
        if n == 2:
            cancel.set()
    assert update.metrics.finish == "cancelled" and update.metrics.output_tokens < 400


def test_an_attention_the_batching_engine_cannot_page_runs_one_reply_at_a_time(services, tmp_path):
    """The same model with an OpenVINO tokenizer: openvino_genai runs it, on its stateful engine."""
    entry = install_folder(services.library, "neox-with-ov-tokenizer", tiny_neox_japanese(), "fp32",
                           replace=openvino_tokenizer_files(tmp_path / "tokenizer"))
    try:
        *_, final = services.chat.reply(message="Hello", model=entry.id, params=SHORT)
        loaded = services.pipelines.current("text-generation")
        assert loaded.engine == "genai" and not loaded.concurrent and final.metrics.engine == ""
        assert final.metrics.output_tokens == 24
    finally:
        services.pipelines.unload(entry.id)
        services.library.delete(entry.id)


def test_the_optimum_intel_engine_chosen_for_a_model_both_run(services):
    install_folder(services.library, "smollm2-int4", smollm2_ir(), "int4")
    try:
        services.chat.set_options(model="smollm2-int4", options=EngineOptions(engine="optimum"))
        *_, final = services.chat.reply(message="What is the capital of France?", model="smollm2-int4",
                                        params=GenerationParams(temperature=0.0, max_new_tokens=32))
        assert "Paris" in final.text and final.metrics.engine == "Optimum Intel engine"
    finally:
        services.chat.options.set("smollm2-int4", EngineOptions())
        services.pipelines.unload("smollm2-int4")


def test_the_hub_says_which_architectures_run_on_the_optimum_intel_engine():
    support = check_support(task="text-generation", config={"model_type": "smollm3"})
    assert support.supported and "Optimum Intel engine" in support.reason
    assert not check_support(task="text-generation", config={"model_type": "mamba"}).supported


def test_every_engine_completes_a_prompt_as_it_is(services):
    """/v1/completions' path: the prompt without the chat template, on each of the three engines. The
    engines that cannot hold a reply to a shape or stop at a text say so."""
    from genai_ui.engines.structured import json_reply
    from genai_ui.errors import InvalidParameter

    install_folder(services.library, "smollm2-int4", smollm2_ir(), "int4")
    greedy = GenerationParams(temperature=0.0, max_new_tokens=8)
    try:
        for engine in ("batching", "stateful", "optimum"):
            services.chat.set_options(model="smollm2-int4", options=EngineOptions(engine=engine))
            *_, final = services.chat.complete(prompt="The capital of France is", model="smollm2-int4", params=greedy)
            assert "Paris" in final.text and final.metrics.input_tokens <= 8, (engine, final)
        json_mode = GenerationParams(structure=json_reply('{"type": "object"}'))
        for refused in (GenerationParams(stop=("Paris",)), json_mode):
            with pytest.raises(InvalidParameter, match="this model runs on the Optimum Intel engine"):
                list(services.chat.reply(message="Hi", model="smollm2-int4", params=refused))
    finally:
        services.chat.options.set("smollm2-int4", EngineOptions())
        services.pipelines.unload("smollm2-int4")
