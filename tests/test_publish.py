"""Publishing a library model to the Hub: the real huggingface_hub client against the local Hub,
then the published repo downloaded back and run with openvino_genai."""

import ast
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError

from genai_ui.errors import HubUnavailable, InvalidParameter, UserError
from genai_ui.hub.client import HubService
from genai_ui.hub.publish import PublishResult, default_repo_name, model_card, publish, usage_snippet
from genai_ui.library import MANIFEST, Library, ModelEntry
from tests.models import folder_files, smollm2_ir

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own

TOKEN = "hf_test_token"
ENTRY = ModelEntry(id="SmolLM2-135M-Instruct-int4", task="text-generation", format="openvino", weight_format="int4",
                   location="", source={"repo_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "license": "apache-2.0"},
                   options={"weight_format": "int4", "group_size": 64},
                   report={"seconds": 21.0, "output_bytes": 91_000_000, "quality": {"score": 0.9, "verdict": "close"}})


def messages(error: BaseException) -> str:
    """What an error and the errors behind it say (not the traceback, which quotes the test's own code)."""
    said = []
    while error is not None:
        said.append(f"{type(error).__name__}: {error} {error.args}")
        error = error.__cause__ or error.__context__
    return "\n".join(said)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def empty_hub():
    """A local Hub of its own: the repos published here would otherwise show in the listings and
    searches other tests check against the session's Hub."""
    from tests.hub_server import LocalHub

    hub = LocalHub(tokens={TOKEN: "tester", "hf_other_token": "someone"})
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def hub(empty_hub):
    return HubService(endpoint=empty_hub.endpoint)


@pytest.fixture(scope="module")
def entry(tmp_path_factory):
    library = Library(tmp_path_factory.mktemp("home") / "models")
    with library.staging() as staged:
        for name, source in folder_files(smollm2_ir()).items():
            os.link(source, staged / name)  # no copy of the 90 MB of weights
        return library.install(staged, ENTRY)


@pytest.fixture(scope="module")
def published(hub, entry):
    before = snapshot(Path(entry.location))
    seen = []
    result = publish(hub=hub, entry=entry, token=TOKEN, on_progress=lambda done, total: seen.append((done, total)))
    return result, before, seen


def test_the_default_name_comes_from_the_source_repo():
    assert default_repo_name(entry=ENTRY) == "SmolLM2-135M-Instruct-openvino-int4"
    local = ModelEntry(id="my-model-int8", task="text-generation", format="openvino", weight_format="int8",
                       location="", source={"repo_id": "/home/me/my-model.gguf"})
    assert default_repo_name(entry=local) == "my-model-openvino-int8"


def test_publish_pushes_every_file_and_a_card(published, entry, empty_hub):
    result, _, seen = published
    assert isinstance(result, PublishResult)
    assert result.repo_id == "tester/SmolLM2-135M-Instruct-openvino-int4"
    assert result.url == f"{empty_hub.endpoint}/{result.repo_id}" and len(result.commit) == 40
    assert TOKEN not in str(result.to_api())
    folder = Path(entry.location)
    expected = {name: p.stat().st_size for name, p in folder_files(folder).items() if name != MANIFEST}
    info = HfApi(endpoint=empty_hub.endpoint).model_info(result.repo_id, files_metadata=True)
    assert info.sha == result.commit and not info.private
    on_hub = {s.rfilename: s.size for s in info.siblings}
    assert MANIFEST not in on_hub and "README.md" in on_hub
    assert {name: on_hub[name] for name in expected} == expected
    assert sorted(result.files) == sorted([*expected, "README.md"])
    assert info.card_data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert info.card_data.library_name == "openvino" and info.card_data.license == "apache-2.0"
    total = sum(expected.values())
    assert seen == [(0, total), (total, total)]


def test_the_card_says_what_was_done_and_how_to_run_it(published, empty_hub, tmp_path):
    result, _, _ = published
    card = Path(hf_hub_download(result.repo_id, "README.md", endpoint=empty_hub.endpoint,
                                cache_dir=tmp_path)).read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front == {"license": "apache-2.0", "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
                     "base_model_relation": "quantized", "library_name": "openvino",
                     "tags": ["openvino", "nncf", "int4"], "pipeline_tag": "text-generation"}
    assert "| group_size | `64` |" in card and "| weight_format | `int4` |" in card
    assert "| Conversion time | 21.0 s |" in card and "| Quality: verdict | close |" in card
    assert "Source size" not in card  # not in the report: not in the card
    code = card.split("```python\n")[1].split("```")[0]
    ast.parse(code)
    assert 'snapshot_download("tester/SmolLM2-135M-Instruct-openvino-int4")' in code
    assert 'openvino_genai.LLMPipeline(model_dir, "CPU")' in code


ASK = """
answer = pipe.generate(openvino_genai.ChatHistory([{"role": "user", "content": "What is the capital of France?"}]),
                       max_new_tokens=32, do_sample=False).texts[0]
print(json.dumps({"answer": answer, "model_dir": model_dir}))
"""


def test_the_cards_snippet_downloads_the_model_and_it_answers(published, empty_hub, tmp_path):
    """The card's snippet as a reader would paste it (answering shorter: 100 tokens take seconds on two
    CPUs), then the pipeline it loaded asked greedily; one process, so the model loads once."""
    result, _, _ = published
    cache = tmp_path / "hub"  # the snippet's cache, with HF_HOME=tmp_path
    xml = hf_hub_download(result.repo_id, "openvino_model.xml", endpoint=empty_hub.endpoint, cache_dir=cache)
    card = Path(hf_hub_download(result.repo_id, "README.md", endpoint=empty_hub.endpoint, cache_dir=cache))
    snippet = card.read_text().split("```python\n")[1].split("```")[0]
    assert "max_new_tokens=100" in snippet
    code = "import json\n" + snippet.replace("max_new_tokens=100", "max_new_tokens=8") + ASK
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         env={**os.environ, "HF_ENDPOINT": empty_hub.endpoint, "HF_HOME": str(tmp_path)})
    assert ran.returncode == 0, ran.stderr
    said = json.loads(ran.stdout.strip().splitlines()[-1])
    assert Path(said["model_dir"]) / "openvino_model.xml" == Path(xml)  # the snapshot the real client fetched
    assert "Paris" in said["answer"]


def test_the_library_folder_is_left_as_it_was(published, entry):
    _, before, _ = published
    assert snapshot(Path(entry.location)) == before
    assert not (Path(entry.location) / "README.md").exists()


def test_a_private_repo_is_seen_by_its_owner_only(hub, entry, empty_hub):
    result = publish(hub=hub, entry=entry, token=TOKEN, repo_name="smollm2-private", private=True)
    assert result.repo_id == "tester/smollm2-private"
    assert HfApi(endpoint=empty_hub.endpoint, token=TOKEN).model_info(result.repo_id).private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=empty_hub.endpoint, token="hf_other_token").model_info(result.repo_id)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=empty_hub.endpoint).model_info(result.repo_id)
    # an existing public repo is not where a private model goes
    with pytest.raises(InvalidParameter, match="already exists and is public"):
        publish(hub=hub, entry=entry, token=TOKEN, repo_name="SmolLM2-135M-Instruct-openvino-int4", private=True)


@pytest.mark.parametrize("name, rule", [
    ("my model", "letters, digits"), ("a" * 97, "at most 96"), ("my--model", "'--' or '..'"),
    ("my..model", "'--' or '..'"), ("-model", "start or end"), ("model.", "start or end"),
    ("someone/model", "without an owner"),
])
def test_a_bad_repo_name_names_the_rule(hub, entry, empty_hub, name, rule):
    before = len(empty_hub.requests)
    with pytest.raises(InvalidParameter, match=rule) as raised:
        publish(hub=hub, entry=entry, token=TOKEN, repo_name=name)
    assert TOKEN not in messages(raised.value)
    assert len(empty_hub.requests) == before  # refused before asking the Hub anything


@pytest.mark.parametrize("token", ["", "   "])
def test_no_token_is_a_clear_message(hub, entry, token):
    with pytest.raises(UserError, match="Publishing needs a Hugging Face token with write access"):
        publish(hub=hub, entry=entry, token=token)


def test_a_wrong_token_is_the_users_error(hub, entry):
    with pytest.raises(InvalidParameter, match="does not accept this token") as raised:
        publish(hub=hub, entry=entry, token="hf_not_a_real_token")
    assert "hf_not_a_real_token" not in messages(raised.value)


def test_an_unreachable_hub_is_a_message(entry, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HubUnavailable, match="cannot be reached") as raised:
        publish(hub=HubService(endpoint="http://127.0.0.1:9"), entry=entry, token=TOKEN)
    assert TOKEN not in messages(raised.value)
    assert TOKEN not in caplog.text


def test_only_openvino_models_are_published(hub, entry):
    gguf = ModelEntry(id="SmolLM2-Q4", task="text-generation", format="gguf", weight_format="Q4_0",
                      location=entry.location)
    with pytest.raises(InvalidParameter, match="only OpenVINO models"):
        publish(hub=hub, entry=gguf, token=TOKEN)


@pytest.mark.parametrize("task, pipeline", [("image-text-to-text", "VLMPipeline"),
                                            ("text-to-image", "Text2ImagePipeline")])
def test_every_task_has_a_snippet_and_a_card(task, pipeline):
    code = usage_snippet(task=task, repo_id="someone/model")
    ast.parse(code)
    assert f'openvino_genai.{pipeline}(model_dir, "CPU")' in code
    card = model_card(entry=ModelEntry(id="m-fp16", task=task, format="openvino", weight_format="fp16",
                                       location=""))
    front = yaml.safe_load(card.split("---")[1])
    assert front == {"library_name": "openvino", "tags": ["openvino", "fp16"], "pipeline_tag": task}
    assert "## Export options" not in card and "## Conversion report" not in card


def test_the_card_shows_a_conversion_report_without_what_is_private():
    report = {"id": "m-int8", "location": "/home/someone/.genai_ui/models/m-int8", "task": "text-generation",
              "seconds": 95.5, "source_bytes": 2_000_000_000, "output_bytes": 1_000_000_000,
              "peak_rss_bytes": 3_000_000_000, "options": {"weight_format": "int8"}, "source": "org/m",
              "stages": {"download": 10.0, "export": 80.25}, "precisions": {"int8": 0.98, "fp16": 0.02},
              "quality": {"verdict": "same", "score": 0.97, "summary": "Quality: same (0.97 …)",
                          "candidate_tokens_per_s": 40.0, "reference_tokens_per_s": 20.0,
                          "rows": [{"prompt": "Say hi", "similarity": 0.97}]},
              "tokens_per_s": 40.0, "command": "optimum-cli export openvino --model org/m --task "
                                               "text-generation-with-past --weight-format int8 <output folder>"}
    card = model_card(entry=ModelEntry(id="m-int8", task="text-generation", format="openvino", weight_format="int8",
                                       location="", source={"repo_id": "org/m"}, report=report), repo_id="me/m")
    table = card.split("## Conversion report")[1].split("##")[0]
    for row in ("| Conversion time | 95.5 s |", "| Output size | 953.7 MB |", "| Peak memory | 2,861.0 MB |",
                "| Stage: export | 80.2 s |", "| Weights | int8 98%, fp16 2% |", "| Quality: score | 0.97 |",
                "| Quality: speed of the original model | 20.0 tokens/s |", "| Speed | 40.0 tokens/s |"):
        assert row in table, row
    assert "/home/someone" not in card and "Say hi" not in card and "m-int8 |" not in table
    assert "```sh\noptimum-cli export openvino --model org/m" in card
