"""The Benchmark tab in a real browser: runs of the real engines, side by side, and as CSV."""

import csv
import io

from genai_ui.run.benchmark import COLUMNS
from genai_ui.ui.benchmark_tab import HEADERS
from tests.models import install_folder, smollm2_ir
from tests.pages import set_slider


def test_benchmark_tab_compares_the_sessions_runs(browser, app_url, services, output_dir):
    install_folder(services.library, "smollm2-int4", smollm2_ir(), "int4")
    page = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True).new_page()
    page.goto(app_url)
    page.click("button[role=tab]:has-text('Benchmark')")
    page.click("#bench-model input")
    page.click("ul[role=listbox] >> text=smollm2-int4")
    set_slider(page, "bench-tokens", 32)
    set_slider(page, "bench-runs", 2)
    page.click("#bench-run")
    page.wait_for_function("() => document.querySelector('#bench-status')?.innerText.includes('tokens/s')",
                           timeout=120_000)
    first = services.pipelines.current("text-generation")
    assert first.entry.id == "smollm2-int4" and first.engine == "genai"

    page.click("#bench-engine >> text=Optimum Intel engine")
    page.click("#bench-run")
    page.wait_for_function("() => document.querySelector('#bench-status')?.innerText.includes('#2')", timeout=180_000)
    assert "Optimum Intel" in page.inner_text("#bench-status")
    assert services.pipelines.current("text-generation").engine == "optimum"
    bars = "() => Array.from(document.querySelectorAll('#bench-plot [aria-roledescription=bar]')).map(b => b.ariaLabel)"
    page.wait_for_function(f"({bars})().length == 2", timeout=10_000)  # both runs drawn
    page.screenshot(path=str(output_dir / "benchmark.png"), full_page=True)

    with page.expect_download() as download:
        page.click("#bench-csv")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert list(rows[0]) == list(COLUMNS) and len(HEADERS) == len(COLUMNS)
    assert [r["engine"] for r in rows] == ["openvino_genai", "Optimum Intel"]
    assert all(r["model"] == "smollm2-int4" and r["runs"] == "2" and r["max_new_tokens"] == "32" for r in rows)
    for r in rows:  # measured: figures that hang together, not placeholders
        assert float(r["tokens_per_s"]) > 0 and float(r["ttft_ms"]) > 0 and float(r["load_s"]) > 0
        # tokens/s is written to 0.1 and the time per token to 0.01 ms: one is the other's inverse within both
        # roundings (±0.05 tokens/s, and ±0.005 ms, which moves 1000/tpot by 5/tpot²; at 22.05 ms that is 0.0103)
        tpot = float(r["tpot_ms"])
        assert abs(1000 / tpot - float(r["tokens_per_s"])) <= 0.05 + 5 / (tpot - 0.005) ** 2 + 1e-9, r
        assert int(r["memory_mb"]) > 200
    assert float(rows[0]["load_s"]) == round(first.load_ms / 1000, 2)
    table = page.inner_text("#bench-table")
    # the table shows numbers as the page formats them: 31.0 in the CSV is 31 there
    assert all(f"{float(r['tokens_per_s']):g}" in table.split() for r in rows), (rows, table)
    labels = page.evaluate(bars)
    assert [label.rsplit(": ", 1)[0] for label in labels] == ["run: #1 smollm2-int4 · openvino_genai; tokens/s",
                                                              "run: #2 smollm2-int4 · Optimum Intel; tokens/s"]
    assert [float(label.rsplit(": ", 1)[1]) for label in labels] == [float(r["tokens_per_s"]) for r in rows]
    page.context.close()
    services.pipelines.unload("smollm2-int4")

