"""The Benchmark tab: /benchmark on any chat model of the library, the session's runs side by side
(a table of medians, a bar chart of tokens/s) and as a CSV file."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from ..run.benchmark import ENGINE_NAMES, BenchmarkResult, table, to_csv
from ..services import Services
from .caller import caller_of
from .chat_tab import default_model, model_choices, refresh_models
from .errors import user_errors
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
    return _Parts(gr.State([]), (model, device, engine, prompt, max_new, runs), run, status, plot, results, csv)


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


def chart(results: list[BenchmarkResult]) -> pd.DataFrame:
    """A bar a run, named by what was measured; its height as the table rounds it."""
    names = [f"#{n} {r.model} · {ENGINE_NAMES[r.engine]}"
             + (f" · {r.options}" if r.options != "default options" else "") for n, r in enumerate(results, 1)]
    return pd.DataFrame({"run": names, "tokens/s": [round(r.tokens_per_s, 1) for r in results]})


def write_csv(results: list[BenchmarkResult]) -> str:
    path = Path(tempfile.mkdtemp(prefix="genai_ui-bench-")) / "benchmark.csv"
    path.write_text(to_csv(results))
    return str(path)
