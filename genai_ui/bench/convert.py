"""`python -m genai_ui.bench convert`: the app's /convert_model against optimum-cli, a Hub checkpoint
to int4 (the Hub at HF_ENDPOINT)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .common import launch_app, paired, save_result, stop

CONVERT_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
WARM_IMPORTS = "import nncf, openvino_genai; from optimum.intel import OVModelForCausalLM"
GROUP_SIZE = 64  # what the app picks for SmolLM2 (group size 0): its 576 wide layers rule out 128


@dataclass
class Conversion:
    seconds: float  # wall time, as the caller waits for it
    peak_rss_bytes: int
    output_bytes: int
    stages: dict = field(default_factory=dict)  # the app's seconds per stage
    usable_s: float = 0.0  # the app: until the model was registered (its evaluation follows); raw: seconds

    @property
    def converting_s(self) -> float:
        return self.stages.get("Export", 0.0) + self.stages.get("Compress", 0.0)


def raw_convert_args(repo: str) -> list[str]:
    return ["export", "openvino", "--model", repo, "--task", "text-generation-with-past", "--weight-format", "int4",
            "--group-size", str(GROUP_SIZE)]


def raw_convert_run(repo: str, out: Path, env: dict) -> Conversion:
    from ..library import folder_size
    from ..work.background import ProcessResult, run_process

    result = ProcessResult()
    cmd = [sys.executable, "-m", "optimum.commands.optimum_cli", *raw_convert_args(repo), str(out)]
    for _ in run_process(cmd, cancel=threading.Event(), result=result, env=env):
        pass
    if result.returncode != 0:
        sys.exit(f"optimum-cli failed (exit code {result.returncode}): "
                 f"{result.tail[-1] if result.tail else 'no output'}")
    size = folder_size(out)
    shutil.rmtree(out)
    return Conversion(result.seconds, result.peak_rss_bytes, size, usable_s=result.seconds)


def app_convert_run(client, repo: str, library) -> tuple[Conversion, dict]:
    """One /convert_model call, followed as a client follows it: the moment its stream names the registered
    model (usable from then on: its evaluation follows), and the end, with the report."""
    from ..ui.client import follow_conversion

    start, usable, report = time.perf_counter(), None, None
    try:
        for update in follow_conversion(client, repo, "int4", 0):
            if "status" not in update:
                report = update
            elif usable is None and update["status"] == "running" and update.get("id"):
                usable = time.perf_counter() - start
    except RuntimeError as err:
        sys.exit(f"The app's /convert_model failed: {err}")
    seconds = time.perf_counter() - start
    library.delete(report["id"])  # the next run starts from the same library, and gets the same id
    return Conversion(seconds, report["peak_rss_bytes"], report["output_bytes"], report["stages"],
                      usable_s=usable or seconds), report


def warm_hub_cache(repo: str, endpoint: str, hf_home: Path) -> None:
    """Check that the Hub has the repo, then put it in the cache both sides read, so neither pays the
    download."""
    from huggingface_hub import snapshot_download

    from ..errors import HubUnavailable, UserError
    from ..hub.client import HubService, details

    try:
        details(HubService(endpoint=endpoint), repo, os.environ.get("HF_TOKEN", ""))
    except HubUnavailable:
        sys.exit(f"The Hub at {endpoint} cannot be reached: start one (`python -m tests.hub_server`) "
                 "and point HF_ENDPOINT at it.")
    except UserError as err:
        sys.exit(f"{endpoint}: {err}")
    snapshot_download(repo, cache_dir=hf_home / "hub", endpoint=endpoint)


def _median_conversion(runs: list[Conversion]) -> Conversion:
    return Conversion(statistics.median(r.seconds for r in runs),
                      int(statistics.median(r.peak_rss_bytes for r in runs)),
                      int(statistics.median(r.output_bytes for r in runs)),
                      {name: statistics.median(r.stages[name] for r in runs) for name in runs[0].stages},
                      statistics.median(r.usable_s for r in runs))


def bench_convert(runs: int, repo: str, output: Path) -> dict:
    from ..library import Library
    from ..ui.client import connect

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    # a Hugging Face cache of its own: a local Hub serves test repos under real names, which must not
    # land in the user's cache
    work = Path(tempfile.mkdtemp(prefix="genai-ui-bench-convert-"))
    env = {**os.environ, "HF_HOME": str(work / "hf"), "HF_ENDPOINT": endpoint}
    output.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        warm_hub_cache(repo, endpoint, work / "hf")
        t0 = time.perf_counter()  # the first run would otherwise read the libraries from a cold disk
        subprocess.run([sys.executable, "-c", WARM_IMPORTS], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        print(f"checkpoint cached, libraries read once ({time.perf_counter() - t0:.1f} s)")
        with open(output / "convert-app.log", "w") as log:
            server, url, page_s = launch_app(str(work / "home"), env, log)
        client, library = connect(url), Library(work / "home" / "models")
        raw, app, reports = [], [], []
        for i in range(runs):
            raw.append(raw_convert_run(repo, work / "raw", env))
            conversion, report = app_convert_run(client, repo, library)
            app.append(conversion)
            reports.append(report)
            print(f"run {i + 1}: raw {raw[-1].seconds:.1f} s, {raw[-1].peak_rss_bytes / 1e9:.2f} GB; app usable after "
                  f"{app[-1].usable_s:.1f} s, evaluated after {app[-1].seconds:.1f} s, "
                  f"{app[-1].peak_rss_bytes / 1e9:.2f} GB", flush=True)
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)

    raw_command = " ".join(["optimum-cli", *raw_convert_args(repo), "<output folder>"])
    if reports[0]["command"] != raw_command:
        print(f"Note: the app's own equivalent is `{reports[0]['command']}`, not `{raw_command}`.")
    results = {
        "repo": repo, "runs": runs, "raw_command": raw_command, "app_options": reports[0]["options"],
        "raw": asdict(_median_conversion(raw)), "app": asdict(_median_conversion(app)),
        "app_converting_s": statistics.median(a.converting_s for a in app),
        # until registered, what is neither converting nor verifying, in each run (medians of the parts would
        # not add up)
        "app_rest_s": statistics.median(a.usable_s - a.converting_s - a.stages.get("Verify", 0.0) for a in app),
        # ratios of each interleaved pair, then their median: a drift of the machine cancels out within a pair
        "usable_ratio": paired(app, raw, lambda a, r: a.usable_s / r.seconds),
        "verify_share": paired(app, raw, lambda a, r: a.stages.get("Verify", 0.0) / a.converting_s),
        "time_ratio": paired(app, raw, lambda a, r: a.seconds / r.seconds),
        "converting_ratio": paired(app, raw, lambda a, r: a.converting_s / r.seconds),
        "memory_ratio": paired(app, raw, lambda a, r: a.peak_rss_bytes / r.peak_rss_bytes),
        "size_ratio": paired(app, raw, lambda a, r: a.output_bytes / r.output_bytes),
        "quality": [{"verdict": rep["quality"]["verdict"], "kl_mean": rep["quality"]["tokens"]["kl_mean"],
                     "top1_agreement": rep["quality"]["tokens"]["top1_agreement"],
                     "answer_similarity": rep["quality"]["answer_similarity"],
                     "reference_tokens_per_s": rep["quality"]["reference_tokens_per_s"]} for rep in reports],
        "tokens_per_s": statistics.median(rep["tokens_per_s"] for rep in reports),
        "app_page_s": page_s,
    }
    save_result(output, "convert", results)
    print(convert_table(results))
    return results


def convert_table(r: dict) -> str:
    raw, app = r["raw"], r["app"]
    verify, evaluate = app["stages"].get("Verify", 0.0), app["stages"].get("Evaluate", 0.0)
    quality = "; ".join(f"{q['verdict']} (KL {q['kl_mean']:.3f}, top-1 {q['top1_agreement']:.0%}, answers "
                        f"{q['answer_similarity']:.2f})" for q in r["quality"])
    reference = statistics.median(q["reference_tokens_per_s"] or 0.0 for q in r["quality"])
    lines = [f"{r['repo']} to int4, group size {r['app_options'].get('group_size')}, "
             f"median of {r['runs']} interleaved runs", "",
             "| | optimum-cli (raw) | genai_ui /convert_model | app / raw |", "| --- | ---: | ---: | ---: |",
             f"| until the model can be used (the app: registered) | {raw['seconds']:.1f} s | "
             f"{app['usable_s']:.1f} s | **{r['usable_ratio']:.2f}** (target ≤ 1.15) |",
             f"| … converting (Export + Compress) | | {r['app_converting_s']:.1f} s | {r['converting_ratio']:.2f} |",
             f"| … the quick check (Verify) | | {verify:.1f} s | {r['verify_share']:.1%} of converting "
             f"(target ≤ 10%) |",
             f"| … the rest (check, cached download, register, API) | | {r['app_rest_s']:.1f} s | |",
             f"| then the full evaluation (Evaluate; the model is usable meanwhile) | | {evaluate:.1f} s | |",
             f"| until the report is complete | | {app['seconds']:.1f} s | {r['time_ratio']:.2f} |",
             f"| peak memory (app: its job's largest step) | {raw['peak_rss_bytes'] / 1e9:.2f} GB | "
             f"{app['peak_rss_bytes'] / 1e9:.2f} GB | {r['memory_ratio']:.2f} |",
             f"| output size | {raw['output_bytes'] / 1e6:.1f} MB | {app['output_bytes'] / 1e6:.1f} MB | "
             f"{r['size_ratio']:.3f} |", "",
             "App stages (s): " + ", ".join(f"{name} {s:.1f}" for name, s in app["stages"].items()),
             f"App quality per run: {quality}; the int4 model decodes {r['tokens_per_s']:.1f} tokens/s (its fp16 "
             f"export {reference:.1f})",
             f"Raw: `{r['raw_command']}`", "", "Ratios are medians over the interleaved pairs of runs."]
    return "\n".join(lines)
