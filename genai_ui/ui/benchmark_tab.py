"""The Benchmark tab: /benchmark on any chat model of the library, the session's runs side by side
(a table of medians, a bar chart of tokens/s) and as a CSV file; and Tune (/tune_model), which finds
the fastest engine options for the model on the device and shows each variant it tried."""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from ..errors import UserError
from ..run.benchmark import ENGINE_NAMES, BenchmarkResult, table, to_csv
from ..run.tune import TuneReport
from ..services import Services
from .caller import caller_of
from .chat_tab import default_model, model_choices, refresh_models
from .errors import error_html, user_errors
from .pickers import RunTab

HEADERS = ["#", "model", "device", "engine", "options", "load s", "first token ms", "ms / token", "tokens/s",
           "accepted / run", "memory MB", "runs", "new tokens"]


@dataclass(frozen=True)
class _Parts:
    """Every component of the tab, as _layout places them."""
    session: gr.State  # this browser session's results
    settings: tuple  # model, device, engine, prompt, new tokens, runs: what a benchmark reads
    run: gr.Button
    status: gr.Markdown
    plot: gr.BarPlot
    results: gr.Dataframe
    csv: gr.DownloadButton
    tune: gr.Button
    stop: gr.Button
    tune_status: gr.Markdown
    tune_plot: gr.BarPlot
    tune_table: gr.Dataframe
    cancel: gr.State  # this session's running tune: set to stop it


TUNE_HEADERS = ["setting", "variant", "tokens/s", "first token ms", "load s", "vs best so far", "same answer", "chosen"]

def build_benchmark_tab(services: Services) -> RunTab:
    c = _layout(services)
    _wire(services, c)
    return RunTab(model=c.settings[0], pick=lambda current, caller: refresh_models(services, current, caller))


def _layout(services: Services) -> _Parts:
    with gr.Row():
        with gr.Column(scale=1):
            choices = model_choices(services)
            model = gr.Dropdown(choices, value=default_model(services, choices), label="Model", elem_id="bench-model")
            device = gr.Dropdown([(d.name, d.id) for d in services.devices.list()], value=services.devices.default,
                                 label="Device", elem_id="bench-device")
            engine = gr.Radio([("openvino_genai, with the model's options from Chat's Advanced panel", "genai"),
                               ("Optimum Intel engine (optimum-intel's OVModelForCausalLM)", "optimum")],
                              value="genai", label="Engine", elem_id="bench-engine")
            prompt = gr.Textbox(label="Prompt", placeholder="A short story about a lighthouse keeper (default)")
            max_new = gr.Slider(16, 1024, value=128, step=16, label="New tokens a run (greedy, all of them)",
                                elem_id="bench-tokens")
            runs = gr.Slider(1, 10, value=3, step=1, label="Runs (medians are reported)", elem_id="bench-runs")
            run = gr.Button("Run benchmark", variant="primary", elem_id="bench-run")
            status = gr.Markdown(elem_id="bench-status")
        with gr.Column(scale=2):
            # one colour: Gradio 6.31's bar plot keeps the colour scale of its first data, so a series
            # added later (a second engine) would not be drawn; the engine is in each bar's name
            plot = gr.BarPlot(x="run", y="tokens/s", sort=None, y_lim=[0, None], height=360, x_label_angle=-20,
                              label="Decode speed of this session's runs (tokens/s)", elem_id="bench-plot")
    results = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="bench-table",
                           label="Medians of each benchmark; memory is the app's after its runs")
    csv = gr.DownloadButton("Download CSV", visible=False, size="sm", elem_id="bench-csv")
    with gr.Accordion("Tune: the fastest engine options for this model on this device", open=True,
                      elem_id="tune"):
        gr.Markdown("Tries each setting's values (inference precision, engine, dynamic quantization, KV-cache "
                    "precision, threads) on short greedy probes, interleaved, and keeps the fastest that gives "
                    "the same answer. The winner is applied and remembered for the model on the device. "
                    "One to a few minutes for a small model.")
        with gr.Row():
            tune = gr.Button("Tune", variant="primary", elem_id="tune-run", scale=0)
            stop = gr.Button("Stop", visible=False, elem_id="tune-stop", scale=0)
        tune_status = gr.Markdown(elem_id="tune-status")
        tune_plot = gr.BarPlot(x="variant", y="tokens/s", color="result", sort=None, y_lim=[0, None], height=360,
                               x_label_angle=-30, label="Decode speed of each variant (tokens/s)",
                               elem_id="tune-plot")
        tune_table = gr.Dataframe(headers=TUNE_HEADERS, interactive=False, elem_id="tune-table",
                                  label="Each setting's values against the best so far (medians of the rounds)")
    return _Parts(gr.State([]), (model, device, engine, prompt, max_new, runs), run, status, plot, results, csv,
                  tune, stop, tune_status, tune_plot, tune_table, gr.State(None))


def _wire(services: Services, c: _Parts) -> None:
    """The tab's events; each handler returns {component: update}."""

    @user_errors
    def on_run(state: list[BenchmarkResult], model_id, device_id, engine_id, text, tokens, n, request: gr.Request,
               profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None, progress=gr.Progress()):
        def report(done: int, total: int) -> None:
            progress((done, total), desc=f"run {done + 1} of {total}", unit="runs")

        progress(0, desc="loading the model")
        result = services.benchmark.run(model=model_id or "", device=device_id or "", prompt=text or "",
                                        max_new_tokens=int(tokens), runs=int(n), engine=engine_id, progress=report,
                                        caller=caller_of(services.settings, request, profile, oauth))
        state = [*state, result]
        return {c.session: state, c.plot: chart(state), c.results: table(state),
                c.csv: gr.DownloadButton(value=write_csv(state), visible=True),
                c.status: f"✓ #{len(state)} **{result.model}** on {result.device}, {ENGINE_NAMES[result.engine]}: "
                          f"**{result.tokens_per_s:.1f} tokens/s**, first token {result.ttft_ms:.0f} ms, "
                          f"loaded in {result.load_ms / 1000:.1f} s."}

    c.run.click(on_run, [c.session, *c.settings], [c.session, c.plot, c.results, c.csv, c.status],
                api_visibility="private", concurrency_id="benchmark", concurrency_limit=1, show_progress="minimal")

    def on_tune_start():
        return {c.cancel: threading.Event(), c.tune: gr.update(interactive=False), c.stop: gr.update(visible=True),
                c.tune_status: "Tuning…"}

    def on_tune(cancel: threading.Event | None, model_id, device_id, request: gr.Request,
                profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None, progress=gr.Progress()):
        """Ends with Tune enabled again and Stop hidden, whatever happened (an event after an error does not run)."""
        def report(done: int, total: int, what: str) -> None:
            progress((min(done, total), max(total, 1)), desc=what, unit="probes")

        buttons = {c.tune: gr.update(interactive=True), c.stop: gr.update(visible=False)}
        progress(0, desc="loading the model")
        try:
            result = services.tune.tune(model=model_id or "", device=device_id or "", progress=report,
                                        cancel=cancel, caller=caller_of(services.settings, request, profile, oauth))
        except UserError as err:
            gr.Warning(str(err))
            return {**buttons, c.tune_status: error_html(err)}
        return {**buttons, c.tune_status: tune_summary(result), c.tune_plot: tune_chart(result),
                c.tune_table: tune_table(result)}

    def on_stop(cancel: threading.Event | None):
        if cancel is not None:
            cancel.set()
        return "Stopping after the probe that runs now…"

    c.tune.click(on_tune_start, None, [c.cancel, c.tune, c.stop, c.tune_status], queue=False,
                 api_visibility="private").then(
        user_errors(on_tune), [c.cancel, c.settings[0], c.settings[1]],
        [c.tune_status, c.tune_plot, c.tune_table, c.tune, c.stop], api_visibility="private",
        concurrency_id="benchmark", concurrency_limit=1, show_progress="full")
    c.stop.click(on_stop, c.cancel, c.tune_status, queue=False, api_visibility="private")


def tune_summary(report: TuneReport) -> str:
    text = f"✓ {report.summary()}\n\nMeasured on {report.cpu}."
    differ = [r.label for r in report.rows if not r.same_answer]
    if differ:
        text += f" Answered differently, so never chosen: {'; '.join(differ)}."
    return text + "".join(f"\n\n{note}" for note in report.notes)


def tune_chart(report: TuneReport) -> pd.DataFrame:
    """A bar a variant tried; its colour says whether it was chosen, answered the same, or differently."""
    names = [f"{n:02}. {r.setting}: {r.label}" for n, r in enumerate(report.rows, 1)]  # in order, as text sorts
    results = ["chosen" if r.chosen else "same answer" if r.same_answer else "different answer" for r in report.rows]
    return pd.DataFrame({"variant": names, "tokens/s": [round(r.tokens_per_s, 1) for r in report.rows],
                         "result": results})


def tune_table(report: TuneReport) -> list[list]:
    return [[r.setting, r.label, round(r.tokens_per_s, 1), round(r.ttft_ms, 1), round(r.load_s, 2),
             f"{r.ratio:.3f}×", "yes" if r.same_answer else "no", "✓" if r.chosen else ""] for r in report.rows]


def chart(results: list[BenchmarkResult]) -> pd.DataFrame:
    """A bar a run, named by what was measured; its height as the table rounds it."""
    names = [f"#{n} {r.model} · {ENGINE_NAMES[r.engine]}"
             + (f" · {r.options}" if r.options != "default options" else "") for n, r in enumerate(results, 1)]
    return pd.DataFrame({"run": names, "tokens/s": [round(r.tokens_per_s, 1) for r in results]})


def write_csv(results: list[BenchmarkResult]) -> str:
    """Where Gradio serves files from (its upload cache, emptied after --cache-hours), not a folder of /tmp
    that nothing removes."""
    from gradio.utils import get_upload_folder

    os.makedirs(get_upload_folder(), exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="genai_ui-bench-", dir=get_upload_folder())) / "benchmark.csv"
    path.write_text(to_csv(results))
    return str(path)
