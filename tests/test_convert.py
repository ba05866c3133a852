"""Convert and compress, for real: optimum-cli and NNCF on the SmolLM2 checkpoint served by the local
Hub, the results loaded by openvino_genai, through the core and through the app's API."""

import base64
import io
import json
import threading
from pathlib import Path

import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from genai_ui.convert.jobs import Registered, compress_model, convert_model, drain, gguf_to_ir
from genai_ui.convert.divergence import vision_divergence
from genai_ui.convert.pictures import compare_pictures, image_verdict
from genai_ui.convert.options import ExportOptions, pick_group_size
from genai_ui.convert.preflight import Shape
from genai_ui.convert.quality import PROMPTS
from genai_ui.errors import Cancelled, InvalidParameter, NotAvailable
from genai_ui.hub.client import HubService, details
from genai_ui.work.background import Log, Progress, Stage
from tests.leftovers import staged, workers

CHECKPOINT = "HuggingFaceTB/SmolLM2-135M-Instruct"
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def hub(local_hub):
    return HubService(endpoint=local_hub.endpoint)


@pytest.fixture(scope="module")
def fp16(hub, services):
    """SmolLM2 exported at fp16 (export only: no compression), through the core."""
    events = []
    job = convert_model(hub=hub, library=services.library, repo_id=CHECKPOINT,
                        options=ExportOptions(weight_format="fp16"))
    while True:
        try:
            events.append(next(job))
        except StopIteration as done:
            report = done.value
            break
    yield report, events
    services.pipelines.unload(report.id)
    services.library.delete(report.id)


def test_fp16_export_with_stages_log_and_report(fp16, services, hub):
    report, events = fp16
    assert [e.name for e in events if isinstance(e, Stage)] == ["Check", "Download", "Export", "Verify", "Register"]
    assert any(isinstance(e, Log) and "optimum-cli export openvino --model HuggingFaceTB/SmolLM2-135M-Instruct"
               in e.line for e in events)
    assert report.id == "SmolLM2-135M-Instruct-fp16" and report.task == "text-generation"
    assert report.precisions.get("fp16", 0) > 0.9 and 240e6 < report.output_bytes < 290e6
    assert report.source_bytes > 500e6 and report.peak_rss_bytes > 300e6 and report.seconds > 0
    # the pre-flight's size of the fp16 weights, against the export's (its tokenizer and graph aside)
    shape = Shape.of(details(hub, CHECKPOINT).parameters, json.loads((Path(report.location) / "config.json")
                                                                      .read_text()))
    assert 0.95 < report.output_bytes / shape.weight_bytes("fp16") < 1.1
    entry = services.library.get(report.id)
    assert entry.format == "openvino" and entry.weight_format == "fp16" and entry.report["id"] == report.id
    assert entry.source["repo_id"] == CHECKPOINT and not staged(services)


def test_int4_with_a_group_size_that_fits_and_it_answers(client, services):
    """Through the API, as a person's script runs it: the model is registered after the quick check, then
    evaluated in full, and the report is kept with it."""
    planned = {p["precision"]: p for p in client.predict(CHECKPOINT, api_name="/model_details")["preflight"]["plans"]}
    job = client.submit(CHECKPOINT, "int4", 0, api_name="/convert_model")
    report = job.result(timeout=900)
    try:
        # the pre-flight, against what the conversion measured (bench preflight measures the run and the speed)
        int4 = planned["int4"]
        assert int4["how"] == "convert" and int4["download_bytes"] == report["source_bytes"]
        assert 0.85 < int4["disk_bytes"] / (report["source_bytes"] + 269e6 + report["output_bytes"]) < 1.15
        assert 0.7 < int4["convert_peak_bytes"] / report["peak_rss_bytes"] < 1.4, (int4, report["peak_rss_bytes"])
        progress = job.outputs()[:-1]  # a client that stays sees the stages go by, then the report
        assert progress and all(p["status"] in ("starting", "waiting", "running") for p in progress), progress
        assert {"download", "export", "verify", "evaluate"} <= {p.get("stage") for p in progress}, progress
        # from the registration on, the stream names the new model: a client may use it before the evaluation ends
        assert all(p.get("id") == report["id"] for p in progress if p.get("stage") == "evaluate"), progress
        assert report["options"]["group_size"] == 64  # SmolLM2's 576 wide layers rule out 128
        assert {"id", "location", "task", "seconds", "source_bytes", "output_bytes", "peak_rss_bytes",
                "options"} <= set(report) and set(report["stages"])
        assert list(report["stages"]) == ["Check", "Download", "Export", "Compress", "Verify", "Register", "Evaluate"]
        assert report["precisions"]["int4"] > 0.5 and report["output_bytes"] < 120e6
        q = report["quality"]
        # int4 in groups of 64 costs a 135M model about a third of its perplexity (docs/quality.md): degraded
        assert q["depth"] == "full" and q["verdict"] == "degraded" and report["tokens_per_s"] > 0
        t = q["tokens"]
        assert t["tokens"] == 1023 and 0.1 < t["kl_mean"] < 1.0 and 0.45 < t["top1_agreement"] < 0.8
        assert t["candidate_perplexity"] > t["reference_perplexity"] > 1
        assert len(q["rows"]) == len(PROMPTS) and 0.6 < q["answer_similarity"] < 0.95
        france = next(r for r in q["rows"] if "France" in r["prompt"])
        assert "Paris" in france["candidate"] and "Paris" in france["reference"]
        same = [r for r in q["rows"] if r["candidate"] == r["reference"]]
        assert all(r["similarity"] == 1.0 for r in same)  # identical answers are exactly alike
        assert all(r["similarity"] < 1.0 for r in q["rows"] if r not in same)
        assert services.library.get(report["id"]).report["quality"] == q  # kept with the model
        assert "optimum-cli export openvino" in report["command"] and "--group-size 64" in report["command"]
        assert "Paris" in client.predict(QUESTION, [], report["id"], "", 32, 0.0, api_name="/chat")
        with pytest.raises(AppError, match="Name the reference to measure .* against: another chat model of the "
                                           "library, such as a 16-bit export of HuggingFaceTB/SmolLM2-135M-Instruct"):
            client.predict(report["id"], "", api_name="/evaluate_model")
    finally:
        services.pipelines.unload(report["id"])
        services.library.delete(report["id"])


def test_an_ir_compressed_again_to_int8_then_evaluated(fp16, client, services):
    """Registered after the quick check alone (evaluate off), then measured by /evaluate_model against the model
    it was made from."""
    report = client.predict(fp16[0].id, "int8", 0, 1.0, False, False, api_name="/compress_model")
    try:
        assert report["id"] == "SmolLM2-135M-Instruct-fp16-int8" and report["precisions"]["int8"] > 0.9
        assert list(report["stages"]) == ["Check", "Compress", "Verify", "Register"]
        assert 120e6 < report["output_bytes"] < 150e6
        quick = report["quality"]
        assert quick["depth"] == "quick" and quick["verdict"] == "same" and quick["tokens"]["tokens"] == 63
        assert fp16[0].id in services.library  # the original stays
        assert "Paris" in client.predict(QUESTION, [], report["id"], "", 32, 0.0, api_name="/chat")
        with pytest.raises(AppError, match="is compressed already"):
            client.predict(report["id"], "int4", api_name="/compress_model")

        measured = client.predict(report["id"], "", api_name="/evaluate_model")
        assert measured["model"] == report["id"] and measured["reference"] == fp16[0].id and measured["saved"]
        q = measured["quality"]
        assert q["depth"] == "full" and q["verdict"] == "same" and q["tokens"]["kl_mean"] < 0.02
        assert measured["precisions"]["int8"] > 0.9
        kept = services.library.get(report["id"]).report
        assert kept["quality"] == q and kept["reference"] == f"{fp16[0].id}, a model of the library"
        with pytest.raises(AppError, match="against itself measures nothing"):
            client.predict(report["id"], report["id"], api_name="/evaluate_model")
    finally:
        services.pipelines.unload(report["id"])
        services.library.delete(report["id"])


def test_stopping_the_evaluation_keeps_the_model_with_the_quick_figures(fp16, hub, services):
    cancel = threading.Event()
    job = compress_model(library=services.library, hub=hub, model=fp16[0].id,
                         options=ExportOptions(weight_format="int8"), cancel=cancel)
    events = []
    while True:
        try:
            event = next(job)
        except StopIteration as done:
            report = done.value
            break
        events.append(event)
        registered = any(isinstance(e, Registered) for e in events)
        if registered and isinstance(event, Progress) and event.unit == "steps":  # the evaluation is under way
            cancel.set()
    try:
        registered = [e for e in events if isinstance(e, Registered)]
        assert len(registered) == 1 and registered[0].report.id == report.id
        assert [e.name for e in events if isinstance(e, Stage)][-2:] == ["Register", "Evaluate"]
        assert report.quality["depth"] == "quick" and report.quality["evaluation"].startswith("stopped")
        assert services.library.get(report.id).report["quality"] == report.quality
        assert not staged(services) and not workers()
    finally:
        services.library.delete(report.id)


def test_a_gguf_turned_into_ir(hub, services):
    """Its own check (it loads and answers); its evaluation, answers only, is off here."""
    report = drain(gguf_to_ir(library=services.library, hub=hub, model="SmolLM2-135M-Instruct-Q4_1", evaluate=False))
    try:
        assert report.id == "SmolLM2-135M-Instruct-Q4_1-ov" and not report.quality
        assert list(report.stages) == ["Check", "Export", "Verify", "Register"]
        entry = services.library.get(report.id)
        assert entry.format == "openvino" and entry.weight_format == "int4"
    finally:
        services.library.delete(report.id)


def test_cancel_mid_export_leaves_nothing_and_no_process(hub, services):
    cancel = threading.Event()
    before = {e.id for e in services.library.list()}
    job = convert_model(hub=hub, library=services.library, repo_id=CHECKPOINT,
                        options=ExportOptions(weight_format="int8"), cancel=cancel)
    with pytest.raises(Cancelled, match="Cancelled: nothing was added to the library"):
        exporting = False
        for event in job:
            exporting = exporting or (isinstance(event, Stage) and event.name == "Export")
            if exporting and isinstance(event, Log) and workers():
                cancel.set()  # optimum-cli is running: end it
    assert {e.id for e in services.library.list()} == before and not staged(services)
    assert not workers()


@pytest.mark.parametrize("kwargs,message", [
    ({"weight_format": "int8", "group_size": 64}, "int8 compresses every weight per channel, so a group size cannot go with it"),
    ({"weight_format": "fp16", "sym": True}, "fp16 keeps the weights uncompressed: sym cannot go with it"),
    ({"weight_format": "int4", "scale_estimation": True}, "Scale estimation needs a calibration dataset"),
    ({"weight_format": "int4", "dataset": "auto"}, "A dataset changes nothing on its own"),
    ({"weight_format": "nf4", "sym": True}, "sym applies to int4 and int8"),
    ({"weight_format": "int3"}, "weight_format must be one of fp32, fp16, int8, int4"),
    ({"weight_format": "int4", "ratio": 1.5}, "ratio must be above 0 and at most 1"),
    ({"weight_format": "int4", "dataset": "wikitext2", "awq": True}, "need the `datasets` package"),
])
def test_options_that_cannot_go_together_are_refused(kwargs, message):
    with pytest.raises(InvalidParameter, match=message):
        ExportOptions(**kwargs)


def test_group_size_fits_the_model():
    smollm2 = {"hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9}
    assert pick_group_size(smollm2) == 64 and pick_group_size(smollm2, 32) == 32
    assert pick_group_size({"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32}) == 128
    assert pick_group_size({"text_config": {"hidden_size": 64, "intermediate_size": 96}}) == 32
    assert pick_group_size({}) == 128


def test_refused_before_any_download(hub, services, local_hub, client):
    # no file of the model is fetched: its config.json (a few kB the details read for the pre-flight) aside
    downloads = lambda: sum(1 for _, path in local_hub.requests  # noqa: E731
                            if "/resolve/" in path and not path.endswith("/config.json"))
    before = downloads()
    for repo_id, message in [("state-spaces/mamba-130m-hf", "architecture mamba is not run by openvino_genai"),
                             ("tiny-random/t5", "only chat .* convert here"),
                             ("OpenVINO/SmolLM2-135M-Instruct-int4-ov", "is an OpenVINO model already"),
                             ("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", "holds GGUF files"),
                             ("nlptown/bert-base-multilingual-uncased-sentiment", "a classifier, not a reranker")]:
        with pytest.raises(NotAvailable, match=message):
            drain(convert_model(hub=hub, library=services.library, repo_id=repo_id, options=ExportOptions()))
    with pytest.raises(AppError, match="int8 compresses every weight per channel, so a group size"):
        client.predict(CHECKPOINT, "int8", 64, api_name="/convert_model")
    assert downloads() == before


def test_a_vision_model_converts_and_loads(vision_model, services):
    """The tiny LLaVA (converted once for the session, see conftest) loads in VLMPipeline, and its language model
    was measured against its fp16 export with the picture in the prompt (random weights: the figures only show
    that it was measured; test_divergence.py measures a real language model)."""
    report = vision_model.report
    assert vision_model.task == "image-text-to-text" and report["task"] == "image-text-to-text"
    assert vision_model.format == "openvino" and report["precisions"].get("int4", 0) > 0
    assert list(report["stages"])[-2:] == ["Register", "Evaluate"]
    q = report["quality"]
    assert q["depth"] == "full" and q["tokens"]["image"] and q["tokens"]["tokens"] > 100 and not q["rows"]
    assert q["verdict"] in ("same", "close", "degraded", "broken") and q["tokens"]["kl_mean"] >= 0
    same = vision_divergence(reference=vision_model.load_path, candidate=vision_model.load_path, max_tokens=64)
    assert same.tokens == 63 and same.top1_agreement == 1.0 and same.kl_mean < 1e-6
    assert same.reference_perplexity == same.candidate_perplexity > 1
    assert (vision_model.load_path / "preprocessor_config.json").is_file()  # what VLMPipeline reads
    assert services.vision.load(model=vision_model.id).entry.id == vision_model.id


def test_an_image_model_converts_and_loads(image_model, services):
    """The tiny Stable Diffusion (converted once for the session, see conftest) loads in Text2ImagePipeline, and
    its pictures were compared with its fp16 export's, drawn from the same prompts and seed."""
    report = image_model.report
    assert image_model.task == "text-to-image" and report["task"] == "text-to-image"
    assert image_model.format == "openvino" and report["precisions"].get("int8", 0) > 0
    assert services.images.load(model=image_model.id).pipeline.size_step == 2  # its VAE halves each side
    q = report["quality"]
    images = q["images"]
    assert q["depth"] == "full" and list(report["stages"])[-1] == "Evaluate" and len(images["pairs"]) == 3
    assert 0 < images["ssim"] <= 1 and images["psnr"] > 0 and q["verdict"] == image_verdict(images["ssim"])
    first = images["pairs"][0]
    assert first["seed"] == 42 and first["prompt"].startswith("a lighthouse")
    assert Image.open(io.BytesIO(base64.b64decode(first["candidate_jpeg"]))).format == "JPEG"
    same = compare_pictures(reference=image_model.load_path, candidate=image_model.load_path, steps=2,
                            prompts=("a red square",))
    assert same["ssim"] == 1.0 and same["psnr"] == 99.0  # the same model and seed draw the same picture


def test_a_job_that_would_not_fit_on_the_disk_is_refused(tmp_path):
    from genai_ui.library import check_disk

    check_disk(tmp_path, 1_000)
    with pytest.raises(NotAvailable, match=r"Not enough free disk: this needs about 1000000\.0 GB and .* GB are free"):
        check_disk(tmp_path, 10**15)


def test_a_step_turns_progress_bars_into_progress_and_its_marks_into_stages():
    import sys

    from genai_ui.convert.steps import run_step
    from genai_ui.convert.worker import STAGE
    from genai_ui.work.background import Progress

    code = (f"import sys; print('exporting'); print('{STAGE}Compress');"
            "sys.stdout.write('Applying Weight Compression ━━━━╸ 50% 1/2\\rApplying Weight Compression ━━━━━ 100% 2/2\\n')")
    events = list(run_step([sys.executable, "-c", code], "Test", threading.Event(), None, percent=True,
                           stage=lambda name: Stage(name, 2, 3)))
    assert events[0] == Log("exporting") and events[1] == Stage("Compress", 2, 3)
    assert [(e.done, e.label) for e in events if isinstance(e, Progress)] == [
        (50, "Applying Weight Compression"), (100, "Applying Weight Compression")]
    assert [e.line for e in events if isinstance(e, Log)][-1].endswith("100% 2/2")  # the bar's last state only


def test_a_failed_step_says_why_in_its_own_words():
    import sys

    from genai_ui.convert.steps import run_step
    from genai_ui.errors import ConversionFailed

    code = "import sys; print('working'); print('error: the checkpoint has no config.json', file=sys.stderr); sys.exit(2)"
    with pytest.raises(ConversionFailed, match="^The export failed: the checkpoint has no config.json$"):
        list(run_step([sys.executable, "-c", code], "The export", threading.Event(), None))


def test_a_step_sees_no_token_and_no_secret(monkeypatch):
    """What a repo's own code (trust_remote_code) could read in a step: the step's real process prints
    its whole environment; the app's secrets are set around it."""
    import json
    import sys

    from genai_ui.convert.steps import child_env, run_step
    from genai_ui.work.background import Log

    secrets = {"HF_TOKEN": "hf_operator_secret_1", "HUGGING_FACE_HUB_TOKEN": "hf_operator_secret_2",
               "GENAI_UI_AUTH": "ada:pass-word-3", "GENAI_UI_OPERATORS": "ada", "OAUTH_CLIENT_SECRET": "oauth-secret-4",
               "OAUTH_CLIENT_ID": "client-5", "OPENAI_API_KEY": "sk-secret-6", "AWS_SECRET_ACCESS_KEY": "aws-7"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    shown = [e.line for e in run_step([sys.executable, "-c", code], "The step", threading.Event(),
                                      child_env(HubService(endpoint="http://127.0.0.1:9"))) if isinstance(e, Log)]
    env = json.loads(next(line for line in shown if line.startswith("{")))
    assert not set(secrets) & set(env) and not any(v in json.dumps(env) for v in secrets.values()), env
    assert not [k for k in env if k.startswith(("GENAI_UI_", "OAUTH_", "SPACE_"))], env
    assert env["HF_HUB_OFFLINE"] == "1" and env["PATH"]


def test_find_the_best_through_the_api_then_keep_the_choice(client, services):
    """Groups of 128 do not fit SmolLM2's 576 wide layers: said, not tried; int4 in groups of 64 is measured.
    Nothing enters the library until a candidate is kept, and only that one does. (Which candidate the rule
    picks among several, and the Pareto front: test_quality_report.py.)"""
    before = {e.id for e in services.library.list()}
    found = client.predict(CHECKPOINT, "int4-g128, int4-g64", api_name="/find_best_compression")
    rows = {r["name"]: r for r in found["rows"]}
    assert list(rows) == ["int4-g128", "int4-g64"] and not found["stopped"]
    assert rows["int4-g128"]["skipped"] == "groups of 128 do not divide the layers' widths (576, 1536)"
    best = rows["int4-g64"]
    assert best["verdict"] == "degraded" and 0.1 < best["kl_mean"] < 1 and best["tokens_per_s"] > 0
    assert best["pareto"] and found["recommended"] == "int4-g64" and found["reference_bytes"] > 240e6
    assert "--weight-format int4 --group-size 64" in best["command"] and best["bytes"] < 120e6
    assert {e.id for e in services.library.list()} == before  # nothing kept yet
    with pytest.raises(AppError, match="No finished candidate 'int4-g128'"):
        client.predict(found["search"], "int4-g128", api_name="/keep_candidates")
    kept = client.predict(found["search"], "int4-g64", api_name="/keep_candidates")
    try:
        assert [k["id"] for k in kept] == ["SmolLM2-135M-Instruct-int4-g64"]
        entry = services.library.get(kept[0]["id"])
        assert entry.report["quality"]["verdict"] == "degraded" and entry.options["group_size"] == 64
        assert entry.source["repo_id"] == CHECKPOINT and entry.report["id"] == entry.id
        assert {e.id for e in services.library.list()} == before | {entry.id}
        assert not list(services.library.models_dir.glob(".staging-best-*"))
        assert "Paris" in client.predict(QUESTION, [], entry.id, "", 32, 0.0, api_name="/chat")
        with pytest.raises(AppError, match="not waiting for a choice"):
            client.predict(found["search"], "int4-g64", api_name="/keep_candidates")
    finally:
        for k in kept:
            services.pipelines.unload(k["id"])
            services.library.delete(k["id"])
