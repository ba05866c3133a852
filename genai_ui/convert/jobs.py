"""Conversion jobs: a Hub checkpoint to an OpenVINO model in the library (convert_model), a library
model compressed again (compress_model), a library GGUF turned into IR (gguf_to_ir).

Each is a generator of job events (Stage, Progress, Log) that returns its ConversionReport
(`report = yield from job`, or `drain(job)`). Every heavy step runs in a subprocess (steps.py:
optimum-cli, genai_ui.convert.worker, genai_ui.convert.quality): the app's memory never holds the model
being converted, and Cancel ends the step's whole process group. The work is built in a staging
folder of the library and moved into place only when verified: a cancelled or failed job leaves
nothing behind.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Generator

from ..errors import Cancelled, ConversionFailed, InvalidParameter, ModelNotFound, NotAvailable
from ..hub.client import HubService
from ..hub.downloads import restriction
from ..library import Library, ModelEntry, check_disk, context_length_of, folder_size
from ..tasks import TASKS
from ..work.background import Log
from .options import ExportOptions
from .sources import add_preprocessor_config, checked_source, download_files, read_json, unique_id
from .steps import Steps, child_env, json_step, python_module, run_step

Events = Generator[object, None, "ConversionReport"]


@dataclass(frozen=True)
class ConversionReport:
    id: str
    location: str
    task: str
    seconds: float
    source_bytes: int
    output_bytes: int
    peak_rss_bytes: int
    options: dict
    source: str = ""
    stages: dict = field(default_factory=dict)  # stage → seconds
    precisions: dict = field(default_factory=dict)  # share of weights per precision
    quality: dict = field(default_factory=dict)  # genai_ui.convert.quality's report, for chat models
    tokens_per_s: float = 0.0
    command: str = ""  # the optimum-cli command that gives the same model
    reference: str = ""  # what the quality check compared the new model with

    def to_api(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Registered:
    """The new model is in the library and ready to use; its full evaluation follows, when it gets one."""
    report: ConversionReport


def drain(job: Events) -> ConversionReport:
    """Run a job to its end, ignoring its events (the API's way)."""
    while True:
        try:
            next(job)
        except StopIteration as done:
            return done.value


def convert_model(*, hub: HubService, library: Library, repo_id: str, options: ExportOptions, token: str = "",
                  cancel: threading.Event | None = None, cache_dir: Path | None = None, device: str = "CPU",
                  owner: str = "", evaluate: bool = True) -> Events:
    cancel = cancel or threading.Event()
    stage = Steps(["Check", "Download", "Export"] + (["Compress"] if options.compresses else [])
                  + ["Verify", "Register", "Evaluate"])

    yield stage("Check")
    about, task, files = checked_source(hub, library, repo_id, options, token, outputs=[options.weight_format])
    # a compressed model is measured against its uncompressed export once it is registered
    evaluated = evaluate and options.compresses and TASKS[task].evaluated
    if not evaluated:
        stage.skip("Evaluate")
    if any(f["name"].endswith(".py") for f in about.files) and not options.trust_remote_code:
        yield Log(f"{about.id} carries Python code; it is not run unless trust_remote_code is on.")
    source_bytes = sum(f["size"] for f in files)

    yield stage("Download")
    snapshot = yield from download_files(hub, about, files, token, cache_dir, cancel)
    config = read_json(snapshot / "config.json")
    group = options.group_size_for(config)
    export_task = TASKS[task].export_task
    command = (f"optimum-cli export openvino --model {about.id} --task {export_task} "
               + " ".join(options.cli_flags(group)) + " <output folder>")
    yield Log(f"Same as: {command}")
    env, peak = child_env(hub), 0

    with library.staging() as staged:
        env["TMPDIR"] = str(staged)  # optimum's temporary files: on the library's disk, and gone with the job
        model_dir = staged / "model"
        reference = staged / "reference" if options.compresses else model_dir
        yield stage("Export")
        # one process, like optimum-cli: the 16-bit export, then its compression into another folder
        cmd = [sys.executable, "-m", "genai_ui.convert.worker", "export", "--source", str(snapshot), "--task",
               export_task, "--weight-format", "fp32" if options.weight_format == "fp32" else "fp16",
               "--reference", str(reference)] + (["--trust-remote-code"] if options.trust_remote_code else [])
        if options.compresses:
            cmd += ["--output", str(model_dir), "--config", json.dumps(options.quantization_config(group))]
        peak = max(peak, (yield from run_step(cmd, "The conversion", cancel, env, percent=True, stage=stage)))
        for folder in {reference, model_dir}:
            add_preprocessor_config(snapshot, folder)
        yield stage("Verify")
        checked, verify_peak = yield from _verify(model_dir, task, reference if options.compresses else None,
                                                  cancel, env, device)
        peak = max(peak, verify_peak)
        if reference != model_dir and not evaluated:
            shutil.rmtree(reference)
        yield stage("Register")
        local_id = unique_id(library, f"{about.id.split('/')[-1]}-{options.weight_format}")
        opts = {**options.to_dict(), "group_size": group}
        report = ConversionReport(id=local_id, location="", task=task, seconds=0.0, source_bytes=source_bytes,
                                  output_bytes=folder_size(model_dir), peak_rss_bytes=peak, options=opts,
                                  source=about.id, command=command,
                                  reference="the uncompressed export (fp16)" if options.compresses else "", **checked)
        report = stage.finish(report)
        entry = library.install(model_dir, ModelEntry(
            id=local_id, task=task, format="openvino", weight_format=options.weight_format, location="",
            context_length=context_length_of(config),
            source={"repo_id": about.id, "revision": "main", "commit": about.commit, "license": about.license,
                    **restriction(about)},
            options=opts, report=report.to_api(), owner=owner))
        report = replace(report, location=entry.location)
        if evaluated:
            report = yield from _then_evaluate(library, report, reference, cancel, env, device, stage)
    return report


def compress_model(*, library: Library, hub: HubService, model: str, options: ExportOptions,
                   cancel: threading.Event | None = None, device: str = "CPU", owner: str = "",
                   evaluate: bool = True) -> Events:
    """An OpenVINO model of the library compressed again with NNCF (data-free), into a new entry; the
    original stays."""
    cancel = cancel or threading.Event()
    source = library.get(model)
    evaluated = evaluate and evaluates(source.task, Path(source.location))
    stage = Steps(["Check", "Compress", "Verify", "Register"] + (["Evaluate"] if evaluated else []))

    yield stage("Check")
    if source.format != "openvino":
        raise NotAvailable(f"'{source.id}' is a {source.format.upper()} file: turn it into OpenVINO IR first.")
    if not options.compresses:
        raise InvalidParameter(f"Compressing to {options.weight_format} would only make '{source.id}' bigger.")
    if options.dataset or options.awq or options.scale_estimation:
        raise InvalidParameter("AWQ, scale estimation and datasets need the original checkpoint: use Convert on "
                             "its Hub repo.")
    from .precisions import weight_precisions

    precisions = weight_precisions(model_dir=Path(source.location))
    floating = sum(v for k, v in precisions.items() if k in ("fp16", "bf16", "fp32"))
    if floating < 0.5:
        held = ", ".join(f"{k} {v:.0%}" for k, v in precisions.items())
        raise NotAvailable(f"'{source.id}' is compressed already ({held}): compress a 16-bit version of it.")
    check_disk(library.models_dir, source.size_bytes)
    config = read_json(Path(source.location) / "config.json")
    group = options.group_size_for(config)
    env, peak = child_env(hub), 0
    with library.staging() as staged:
        env["TMPDIR"] = str(staged)
        model_dir = staged / "model"
        yield stage("Compress")
        cmd = [sys.executable, "-m", "genai_ui.convert.worker", "compress", "--source", source.location,
               "--output", str(model_dir), "--config", json.dumps(options.quantization_config(group))]
        peak = max(peak, (yield from run_step(cmd, "Compression", cancel, env, percent=True)))
        yield stage("Verify")
        checked, verify_peak = yield from _verify(model_dir, source.task, Path(source.location), cancel, env, device)
        yield stage("Register")
        local_id = unique_id(library, f"{source.id}-{options.weight_format}")
        opts = {**options.to_dict(), "group_size": group}
        report = stage.finish(ConversionReport(
            id=local_id, location="", task=source.task, seconds=0.0, source_bytes=source.size_bytes,
            output_bytes=folder_size(model_dir), peak_rss_bytes=max(peak, verify_peak), options=opts,
            source=source.id, reference=f"{source.id}, the model it was compressed from", **checked))
        entry = library.install(model_dir, ModelEntry(
            id=local_id, task=source.task, format="openvino", weight_format=options.weight_format, location="",
            context_length=source.context_length, source={**source.source, "library_model": source.id},
            options=opts, report=report.to_api(), owner=owner))
        report = replace(report, location=entry.location)
        if evaluated:
            report = yield from _then_evaluate(library, report, Path(source.location), cancel, env, device, stage)
    return report


def gguf_to_ir(*, library: Library, hub: HubService, model: str, cancel: threading.Event | None = None,
               device: str = "CPU", owner: str = "", evaluate: bool = True) -> Events:
    """A GGUF of the library as an OpenVINO IR (openvino_genai's own reading of it), in a new entry; its
    evaluation compares the answers of both (a GGUF gives no logits to compare)."""
    cancel = cancel or threading.Event()
    source = library.get(model, "text-generation")
    evaluated = evaluate and evaluates(source.task, source.load_path)
    stage = Steps(["Check", "Export", "Verify", "Register"] + (["Evaluate"] if evaluated else []))

    yield stage("Check")
    if source.format != "gguf":
        raise NotAvailable(f"'{source.id}' is an OpenVINO model already.")
    env, peak = child_env(hub), 0
    with library.staging() as staged:
        model_dir = staged / "model"
        model_dir.mkdir()
        yield stage("Export")
        cmd = [sys.executable, "-m", "genai_ui.convert.worker", "gguf-ir", "--gguf", str(source.load_path),
               "--output", str(model_dir)]
        peak = yield from run_step(cmd, "Reading the GGUF", cancel, env)
        yield stage("Verify")
        checked, verify_peak = yield from _verify(model_dir, source.task, source.load_path, cancel, env, device)
        yield stage("Register")
        weight_format = {"Q4": "int4", "Q8": "int8", "F16": "fp16", "BF": "bf16", "F3": "fp32"}.get(
            source.weight_format[:2].upper(), source.weight_format.lower())
        local_id = unique_id(library, f"{source.id}-ov")
        report = stage.finish(ConversionReport(
            id=local_id, location="", task=source.task, seconds=0.0, source_bytes=source.size_bytes,
            output_bytes=folder_size(model_dir), peak_rss_bytes=max(peak, verify_peak),
            options={"from_gguf": source.weight_format}, source=source.id,
            reference=f"{source.id}, the GGUF it came from", **checked))
        entry = library.install(model_dir, ModelEntry(
            id=local_id, task=source.task, format="openvino", weight_format=weight_format, location="",
            context_length=source.context_length, source={**source.source, "library_model": source.id},
            options=report.options, report=report.to_api(), owner=owner))
        report = replace(report, location=entry.location)
        if evaluated:
            report = yield from _then_evaluate(library, report, source.load_path, cancel, env, device, stage)
    return report


def evaluate_model(*, library: Library, hub: HubService, model: str, reference: str = "",
                   cancel: threading.Event | None = None, device: str = "CPU", save: bool = True) -> Events:
    """A chat model of the library measured against another of the same task (by default, the library model it
    was made from), as a conversion's evaluation measures it; the report is saved with the model when `save`.
    Returns {model, reference, quality, precisions, saved}."""
    from .precisions import weight_precisions

    cancel = cancel or threading.Event()
    stage = Steps(["Check", "Evaluate"])
    yield stage("Check")
    entry = library.get(model)
    if not TASKS[entry.task].evaluated:
        raise NotAvailable(f"'{entry.id}' is a {entry.task} model: the evaluation measures chat, vision and image "
                           "models.")
    reference = (reference or "").strip() or entry.source.get("library_model", "")
    if not reference:
        made_from = entry.source.get("repo_id") or "a model that is not in the library"
        raise InvalidParameter(f"Name the reference to measure '{entry.id}' against: another chat model of the "
                               f"library, such as a 16-bit export of {made_from}.")
    base = library.get(reference, entry.task)
    if base.id == entry.id:
        raise InvalidParameter(f"'{entry.id}' against itself measures nothing: name another model as the reference.")
    if "gguf" in (entry.format, base.format):
        yield Log("A GGUF gives no logits to compare: only the answers are compared.")
    env = child_env(hub)
    yield stage("Evaluate")
    cmd = yield from full_evaluation(library, entry.task, base.load_path, entry.load_path, cancel, env, device)
    found, _ = yield from json_step(cmd, "The evaluation", "nothing was changed", cancel, env)
    quality = found["quality"]
    yield Log(quality["summary"])
    saved = False
    if save:
        report = {**entry.report, "quality": quality, "reference": f"{base.id}, a model of the library",
                  "tokens_per_s": round(quality.get("candidate_tokens_per_s", 0.0), 1)}
        if entry.format == "openvino":
            report.setdefault("precisions", weight_precisions(model_dir=entry.load_path))
        try:
            library.update_report(entry.id, report)
            saved = True
        except ModelNotFound:
            yield Log(f"{entry.id} was deleted during its evaluation: its report was not saved.")
    return {"model": entry.id, "reference": base.id, "quality": quality,
            "precisions": found.get("precisions", {}), "saved": saved}


def _verify(model_dir: Path, task: str, reference: Path | None, cancel, env, device: str):
    """Before the new model is registered: for a chat model with an IR reference, the quick token-level check
    (genai_ui.convert.quality --depth quick: it loads and runs, and a first KL divergence and top-1 agreement on
    one chunk of the evaluation text); for the others, the task's own check (it loads and answers)."""
    from .precisions import weight_precisions

    checked = {}
    if _token_level(task, reference):
        cmd = python_module("genai_ui.convert.quality", "--reference", str(reference), "--candidate",
                            str(model_dir), "--device", device, "--depth", "quick")
        what = "The quality check"
    else:
        cmd = python_module("genai_ui.convert.worker", "verify", "--model", str(model_dir), "--task", task,
                            "--device", device)
        what = "Verifying the new model"
    found, peak = yield from json_step(cmd, what, "so the model was not added", cancel, env)
    # the quality check reads them in its own process; the task's check does not
    checked["precisions"] = found.get("precisions") or weight_precisions(model_dir=model_dir)
    if "quality" in found:
        checked["quality"] = found["quality"]
        yield Log(found["quality"]["summary"])
    else:
        yield Log(f"Verified: {found.get('output', '')!r}")
    return checked, peak


def _token_level(task: str, reference: Path | None) -> bool:
    """Whether the check before registration is the quick token-level measure (a chat model's IR against its
    reference IR). A vision model gets the task's own check, which runs it in VLMPipeline (its token-level
    measure, through optimum-intel, proves less about the pipeline the app runs), and is measured after."""
    return TASKS[task].compares_answers and reference is not None and reference.is_dir()


def evaluates(task: str, reference: Path | None) -> bool:
    """Whether a new model of `task` made from `reference` gets the full evaluation after its registration."""
    return TASKS[task].evaluated and reference is not None


def _then_evaluate(library: Library, report: ConversionReport, reference: Path, cancel, env, device: str,
                   stage: "Steps") -> Events:
    """A registered model's full evaluation, as the job's last stage."""
    yield Registered(report)
    yield stage("Evaluate")
    report = stage.finish((yield from _evaluate(library, report, reference, cancel, env, device)))
    try:
        library.update_report(report.id, report.to_api())  # with the evaluation's figures and time
    except ModelNotFound:
        yield Log(f"{report.id} was deleted during its evaluation: its report was not saved.")
    return report


def embedder_model(library: Library, cancel, env) -> Generator[object, None, Path]:
    """The embedding model's folder in the app's home (the library is its models/ folder), exported first when
    it is not there yet: a step of its own, so that Cancel stops it."""
    from ..embedder import embedder_dir

    home = library.models_dir.parent
    if not (embedder_dir(home) / "openvino_model.xml").is_file():
        yield Log("Preparing the embedding model that compares answers (all-MiniLM-L6-v2, once)")
        yield from run_step(python_module("genai_ui.embedder", "--home", str(home)), "Preparing the embedding model",
                            cancel, env)
    return embedder_dir(home)


def full_evaluation(library: Library, task: str, reference: Path, candidate: Path, cancel, env,
                    device: str) -> Generator[object, None, list[str]]:
    """The full evaluation's command: token by token, and for a chat model the answers too, compared by the
    embedding model (exported first when the home has none)."""
    cmd = python_module("genai_ui.convert.quality", "--reference", str(reference), "--candidate", str(candidate),
                        "--device", device, "--depth", "full")
    if TASKS[task].compares_answers:
        cmd += ["--embedder", str((yield from embedder_model(library, cancel, env)))]
    return cmd


def _evaluate(library: Library, report: ConversionReport, reference: Path, cancel, env, device: str) -> Events:
    """After registration: the full evaluation (genai_ui.convert.quality --depth full), as the report it makes.
    The model stays whatever happens here: a stop or a failure keeps the quick check's figures and says so in
    the report."""
    try:
        cmd = yield from full_evaluation(library, report.task, reference, Path(report.location), cancel, env, device)
        found, _ = yield from json_step(cmd, "The evaluation", "the model stays, with the quick check's figures",
                                        cancel, env)
        quality = found["quality"]
        yield Log(quality["summary"])
    except Cancelled:
        kept = "these are the quick check's figures" if report.quality else "it has no figures"
        quality = {**report.quality, "evaluation": f"stopped before the end: {kept}"}
        yield Log("The evaluation was stopped: the model stays" + (", with the quick check's figures."
                                                                   if report.quality else "."))
    except ConversionFailed as err:
        quality = {**report.quality, "evaluation": f"failed: {err}"}
        yield Log(str(err))
    return replace(report, quality=quality, tokens_per_s=round(quality.get("candidate_tokens_per_s", 0.0), 1))


