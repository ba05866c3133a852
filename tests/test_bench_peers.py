"""The peers bench's contenders: an engine and a model in a process of its own, timed one greedy reply at a
time over a pipe, with the process's own peak memory. llama.cpp is not installed by `make test` (it compiles
for minutes: `make bench-peers`), so its contender is checked for what it needs before it starts."""

import openvino_genai as og
import pytest

from genai_ui.bench.peers import Contender, peers_table
from tests.models import smollm2_ir


def test_an_openvino_genai_contender_times_greedy_replies_in_its_own_process():
    folder = smollm2_ir()
    prompt = og.Tokenizer(str(folder)).apply_chat_template([{"role": "user", "content": "Count to ten."}],
                                                           add_generation_prompt=True)
    contender = Contender("openvino_genai", "genai", folder, prompt, {"properties": {"INFERENCE_NUM_THREADS": 1}})
    try:
        first, second = contender.run(16), contender.run(16)
        for run in (first, second):
            assert run.tokens == 16 and run.ttft_ms > 0 and run.decode_tokens_per_s > 0
        assert 100e6 < contender.peak_bytes() < 2e9  # the worker's own, not the test process's
    finally:
        contender.close()
    assert contender.process.returncode == 0


def test_a_contender_that_dies_says_so():
    contender = Contender("broken", "genai", smollm2_ir() / "nowhere", "Hi")
    with pytest.raises(RuntimeError, match="broken ended \\(exit code 1\\)"):
        contender.run(4)


def test_the_peers_table_says_how_llama_cpp_ran():
    rows = [{"name": "llama.cpp, n_batch=1 (llama-cpp-python)", "ttft_ms": 900.0, "decode_tokens_per_s": 150.0,
             "tokens": 256, "total_s": 0.0, "peak_bytes": 2e8},
            {"name": "openvino_genai, defaults", "ttft_ms": 40.0, "decode_tokens_per_s": 70.0, "tokens": 256,
             "total_s": 0.0, "peak_bytes": 4e8}]
    table = peers_table({"model": "m.gguf", "ir": "m-int4", "runs": 3, "max_new_tokens": 256, "tuned": "default options",
                         "llama_batch_one": True, "rows": rows,
                         "vs_llama": {"openvino_genai, defaults": 0.47}, "vs_defaults": {}})
    assert "| openvino_genai, defaults | 70.0 | 0.47 |  | 40 ms | 0.40 GB |" in table
    assert "ran with n_batch=1" in table and "llama.cpp: m.gguf; openvino_genai and the app: m-int4;" in table
