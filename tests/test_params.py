import pytest

from genai_ui.engines.llm import ChatMetrics, GenerationParams
from genai_ui.errors import InvalidParameter
from genai_ui.run.conversation import for_model, normalize, split_last_turn


@pytest.mark.parametrize("field,value,message", [
    ("temperature", -0.1, "temperature must be at least 0.0 and at most 2.0; got -0.1"),
    ("temperature", 3, "temperature must be at least 0.0 and at most 2.0; got 3"),
    ("top_p", 0.0, "top_p must be above 0.0"),
    ("max_new_tokens", 0, "max_new_tokens must be at least 1"),
    ("max_new_tokens", 2.5, "max_new_tokens must be a whole number"),
    ("top_k", "many", "top_k must be a whole number, not 'many'"),
    ("seed", -2, "seed must be at least -1"),
    ("repetition_penalty", 0, "repetition_penalty must be above 0.0"),
])
def test_out_of_range_parameters_are_named(field, value, message):
    with pytest.raises(InvalidParameter, match=message.replace("(", r"\(")):
        GenerationParams(**{field: value})


def test_greedy_when_temperature_zero():
    assert GenerationParams(temperature=0).greedy and not GenerationParams().greedy


def test_for_model_puts_system_prompt_first_and_message_last():
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "metrics": "x"}]
    messages = for_model(history, "again", "Be brief.")
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]
    assert for_model([], "hi")[0] == {"role": "user", "content": "hi"}


def test_normalize_accepts_gradio_parts_and_refuses_junk():
    assert normalize([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]) \
        == [{"role": "user", "content": "ab"}]
    with pytest.raises(InvalidParameter, match=r"history\[0\] must be a dict with a role"):
        normalize([{"role": "robot", "content": "x"}])
    with pytest.raises(InvalidParameter, match="history must be a list"):
        normalize("hello")


def test_split_last_turn():
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]
    assert split_last_turn(messages) == (messages[:2], "c")
    assert split_last_turn([]) is None


def test_metrics_summary_says_what_happened():
    m = ChatMetrics(ttft_ms=42.4, tokens_per_s=150.26, input_tokens=30, output_tokens=12, finish="cancelled",
                    seed=7, dropped_messages=2, max_new_tokens=64)
    assert m.summary() == ("first token 42 ms · 150.3 tokens/s · 30 in, 12 out · seed 7 · stopped · "
                           "2 oldest messages left out to fit the context")
