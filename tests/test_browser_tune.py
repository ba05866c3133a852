"""Tune in the Benchmark tab, in a real browser: a progress bar, then each variant in a table and a chart,
the winner applied."""

from genai_ui.builtin import BUILTIN_ID
from genai_ui.engines.options import EngineOptions


def test_tune_from_the_benchmark_tab(browser, app_url, services, output_dir):
    rounds, tokens = services.tune.rounds, services.tune.tokens
    services.tune.rounds, services.tune.tokens, services.tune.only = 1, 12, ("threads",)
    page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    try:  # the page stays open on a failure: the report's screenshot shows it
        page.goto(app_url)
        page.click("button[role=tab]:has-text('Benchmark')")
        page.click("#tune-run")
        page.wait_for_selector("#tune-stop", state="visible", timeout=10_000)
        page.wait_for_selector("#tune-status .progress-text, #tune-status .progress-level", timeout=30_000)
        page.wait_for_function("() => document.querySelector('#tune-status')?.innerText.includes('Measured on')",
                               timeout=240_000)
        page.screenshot(path=str(output_dir / "tune.png"), full_page=True)
        status = page.inner_text("#tune-status")
        report = services.tune.last(BUILTIN_ID, "CPU")
        assert report["cpu"] in status and f"ried {len(report['rows'])} variants" in status
        table = page.inner_text("#tune-table")
        assert all(row["options"] in table for row in report["rows"]), table
        assert table.count("✓") == sum(row["chosen"] for row in report["rows"]) and "threads" in table
        bars = "() => document.querySelectorAll('#tune-plot [aria-roledescription=bar]').length"
        page.wait_for_function(f"({bars})() == {len(report['rows'])}", timeout=10_000)
        page.wait_for_selector("#tune-stop", state="hidden", timeout=10_000)
        assert page.is_enabled("#tune-run")
        assert services.chat.options.get(BUILTIN_ID, "CPU") == EngineOptions.from_api(report["winner"])
        # Stop: the tune ends with nothing changed, and the button comes back
        services.chat.options.set(BUILTIN_ID, EngineOptions())
        page.click("#tune-run")
        page.click("#tune-stop")
        page.wait_for_selector(".toast-body >> text=Tuning was cancelled: nothing was changed", timeout=60_000)
        page.wait_for_selector("#tune-stop", state="hidden", timeout=10_000)
        assert page.is_enabled("#tune-run") and services.chat.options.get(BUILTIN_ID, "CPU") == EngineOptions()
        page.context.close()
    finally:
        services.tune.rounds, services.tune.tokens, services.tune.only = rounds, tokens, ()
        services.chat.options.set(BUILTIN_ID, EngineOptions())
