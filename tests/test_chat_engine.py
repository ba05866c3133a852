"""The real openvino_genai LLMPipeline on the built-in GGUF, through the core's ChatService."""

import threading
import time

import pytest

from genai_ui.builtin import BUILTIN_ID, GGUF_NAME
from genai_ui.engines.llm import GenerationParams
from genai_ui.engines.options import saved_ir_files
from genai_ui.errors import DeviceNotFound, EmptyMessage, ModelLoadError, PromptTooLong
from genai_ui.library import ModelEntry

GREEDY = GenerationParams(temperature=0.0, max_new_tokens=64)


def last(updates):
    *_, final = updates
    return final


def test_capital_of_france_streams_and_says_paris(services):
    updates = list(services.chat.reply(message="What is the capital of France?", params=GREEDY))
    assert len(updates) > 1, "the reply should stream in several updates"
    assert all(updates[i].text.startswith(updates[i - 1].text) for i in range(1, len(updates)))
    final = updates[-1]
    assert "Paris" in final.text
    m = final.metrics
    assert m.finish == "stop" and m.output_tokens > 1 and m.input_tokens > 5
    assert m.ttft_ms > 0 and m.tokens_per_s > 0 and m.seed is None


def test_every_listed_device_answers(services):
    for device in services.devices.list():  # CPU and AUTO here; GPU and NPU where present
        final = last(services.chat.reply(message="What is the capital of France?", device=device.id, params=GREEDY))
        assert "Paris" in final.text, device
        assert services.pipelines.loaded("text-generation") == [(BUILTIN_ID, device.id)]


def test_stop_ends_generation_inside_the_engine(services):
    cancel = threading.Event()
    params = GenerationParams(temperature=0.0, max_new_tokens=400, ignore_eos=True)
    texts = []
    stream = services.chat.reply(message="Tell me a long story about a dragon.", params=params, cancel=cancel)
    for update in stream:
        texts.append(update.text)
        if len(texts) == 2:
            cancel.set()
    final = update
    assert final.metrics.finish == "cancelled"
    assert final.metrics.output_tokens < 50, "the engine kept generating after Stop"
    assert final.text and final.text.startswith(texts[0]), "the partial reply is kept"


def test_seed_reproduces_a_sampled_reply(services):
    def sample(seed):
        params = GenerationParams(temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=24, seed=seed)
        return last(services.chat.reply(message="Write a poem about the sea.", params=params))

    a, b, c = sample(1234), sample(1234), sample(99)
    assert a.text == b.text and a.metrics.seed == 1234
    assert a.text != c.text


def test_parameters_reach_the_engine(services):
    short = last(services.chat.reply(message="Tell me about cats.", params=GenerationParams(
        temperature=0.0, max_new_tokens=5, ignore_eos=True)))
    assert short.metrics.output_tokens == 5 and short.metrics.finish == "length"
    drawn = last(services.chat.reply(message="Hi!", params=GenerationParams(max_new_tokens=4)))
    assert drawn.metrics.seed is not None  # seed -1 draws one and reports it


def test_system_prompt_and_history_reach_the_model(services):
    history = [{"role": "user", "content": "What is the capital of France?"},
               {"role": "assistant", "content": "The capital of France is Paris."}]
    final = last(services.chat.reply(message="And what is the capital of Italy?", history=history, params=GREEDY))
    assert "Rome" in final.text
    assert final.metrics.input_tokens > last(services.chat.reply(
        message="And what is the capital of Italy?", params=GREEDY)).metrics.input_tokens


def test_long_conversation_drops_oldest_turns_and_says_so(services):
    filler = "Here is a long note about nothing in particular. " * 60  # ~600 tokens per message
    history = []
    for _ in range(4):
        history += [{"role": "user", "content": filler}, {"role": "assistant", "content": filler}]
    # 8192-token context: 8 messages of ~600 tokens plus 4000 new tokens cannot all fit
    final = last(services.chat.reply(message="What is the capital of France?", history=history,
                                     params=GenerationParams(temperature=0.0, max_new_tokens=4000)))
    assert final.metrics.dropped_messages > 0
    assert final.metrics.input_tokens + 4000 <= 8192
    assert "oldest messages left out" in final.metrics.summary()
    assert "Paris" in final.text


def test_a_message_longer_than_the_context_is_refused(services):
    with pytest.raises(PromptTooLong, match="this model reads at most 8192"):
        services.chat.reply(message="word " * 9000, params=GREEDY)


def test_bad_input_is_refused_before_loading(services):
    with pytest.raises(EmptyMessage):
        services.chat.reply(message="   ")
    with pytest.raises(DeviceNotFound, match="Device 'TPU' is not available here. Choose one of: CPU"):
        services.chat.reply(message="hi", device="TPU")


def _add_copy(services, model_id, data: bytes):
    library = services.library
    with library.staging() as staged:
        (staged / GGUF_NAME).write_bytes(data)
        return library.install(staged, ModelEntry(id=model_id, task="text-generation", format="gguf",
                                                  weight_format="Q4_1", location="", model_file=GGUF_NAME,
                                                  context_length=8192))


def test_corrupt_or_missing_model_gives_a_clear_message(services, gguf):
    _add_copy(services, "corrupt-gguf", gguf.read_bytes()[:2_000_000])
    with pytest.raises(ModelLoadError, match="'corrupt-gguf' is incomplete: its file has 2,000,000 of"):
        services.chat.reply(message="hi", model="corrupt-gguf")
    entry = _add_copy(services, "vanished-gguf", b"GGUF")
    (entry.load_path).unlink()
    with pytest.raises(ModelLoadError, match="The files of 'vanished-gguf' are missing"):
        services.chat.reply(message="hi", model="vanished-gguf")
    # the app goes on answering with the built-in model
    assert "Paris" in last(services.chat.reply(message="What is the capital of France?", params=GREEDY)).text
    services.library.delete("corrupt-gguf")
    services.library.delete("vanished-gguf")


def test_switching_model_unloads_the_previous_one(services, gguf):
    _add_copy(services, "second-model", gguf.read_bytes())
    try:
        last(services.chat.reply(message="Hi", model=BUILTIN_ID, params=GenerationParams(max_new_tokens=2)))
        assert services.pipelines.loaded("text-generation") == [(BUILTIN_ID, "CPU")]
        final = last(services.chat.reply(message="What is the capital of France?", model="second-model",
                                         params=GREEDY))
        assert "Paris" in final.text
        assert services.pipelines.loaded("text-generation") == [("second-model", "CPU")]
        # the first load saves the IR beside the GGUF, in the background; a damaged one is rebuilt, not fatal
        folder = services.library.get("second-model").load_path.parent
        for _ in range(1200):  # at the lowest priority: slower on a busy machine
            if all(f.is_file() for f in saved_ir_files(services.library.get("second-model"))):
                break
            time.sleep(0.1)
        assert (folder / "openvino_model.xml").is_file() and (folder / "openvino_tokenizer.xml").is_file()
        assert not (folder / ".gguf").exists()
        services.pipelines.unload("second-model")
        (folder / "openvino_model.xml").write_text("<damaged")
        final = last(services.chat.reply(message="What is the capital of France?", model="second-model",
                                         params=GREEDY))
        assert "Paris" in final.text
        model_xml = folder / "openvino_model.xml"  # deleted with the rest of the damaged set, then saved again
        for _ in range(1200):  # at the lowest priority: slower on a busy machine
            if model_xml.is_file() and model_xml.read_text().startswith("<?xml"):
                break
            time.sleep(0.1)
        assert model_xml.read_text().startswith("<?xml")
    finally:
        services.pipelines.unload("second-model")
        services.library.delete("second-model")
