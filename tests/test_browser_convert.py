"""The Convert tab in a real browser: a library GGUF turned into IR with its report, and a Hub
export cancelled halfway."""

import re

from tests.leftovers import staged, workers

BUILTIN = "SmolLM2-135M-Instruct-Q4_1"


def open_page(browser, app_url):
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(app_url)
    page.wait_for_selector("#chat-input textarea")
    return page


def test_a_library_gguf_into_ir_with_a_report_then_evaluated_again_from_the_library(browser, app_url, services,
                                                                                     output_dir):
    """Registered first (usable while its evaluation runs), then the report fills in; the Library shows it, and
    runs the evaluation again against the model it came from."""
    page = open_page(browser, app_url)
    made = f"{BUILTIN}-ov"
    try:
        page.get_by_role("tab", name="Library").click()
        page.locator("#library-table span.text", has_text=re.compile(f"^{BUILTIN}$")).first.click()
        page.get_by_role("button", name="Turn into OpenVINO IR…").click()
        page.locator("#convert-start").wait_for()
        assert page.locator("#convert-local input").input_value().startswith(BUILTIN)
        page.click("#convert-start")
        # registered: said while the evaluation runs, with its own stop button
        page.locator("#convert-status").get_by_text(f"{made} is in your library").wait_for(timeout=180_000)
        page.locator("#convert-cancel").get_by_text("Stop the evaluation").wait_for()
        page.locator("#convert-report").get_by_role("cell", name="Answers", exact=True).wait_for(timeout=300_000)
        report = page.locator("#convert-report").inner_text()
        assert made in report and "same" in report and "What is the capital of France?" in report
        page.locator("#convert-chart canvas, #convert-chart svg").first.wait_for()  # the plot is drawn
        page.screenshot(path=str(output_dir / "convert-report.png"), full_page=True)
        assert services.library.get(made).report["quality"]["depth"] == "full"

        page.get_by_role("tab", name="Library").click()
        page.locator("#library-table span.text", has_text=re.compile(f"^{made}$")).first.click()
        page.locator("#library-selected").get_by_text("Last quality report").wait_for()
        assert "same" in page.locator("#library-selected").inner_text()
        page.click("#library-evaluate")
        assert page.locator("#library-reference input").input_value().startswith(BUILTIN)  # its source
        page.click("#library-run-evaluation")
        page.locator("#library-evaluation").get_by_text(f"Measured against {BUILTIN}").wait_for(timeout=300_000)
        assert "kept with the model" in page.locator("#library-evaluation").inner_text()
        assert "What is the capital of France?" in page.locator("#library-selected").inner_text()
    finally:
        page.context.close()
        if made in services.library:
            services.library.delete(made)


def test_cancel_an_export_halfway(browser, app_url, services):
    page = open_page(browser, app_url)
    before = [e.id for e in services.library.list()]
    try:
        page.get_by_role("tab", name="Convert").click()
        page.locator("#convert-repo textarea").fill("HuggingFaceTB/SmolLM2-135M-Instruct")
        page.click("#convert-start")
        page.locator("#convert-status").get_by_text("Export").wait_for(timeout=60_000)
        page.wait_for_function("() => document.querySelector('#convert-log textarea').value.includes('optimum')",
                               timeout=60_000)
        page.click("#convert-cancel")
        page.locator("#convert-status").get_by_text("Cancelled: nothing was added to the library").wait_for(
            timeout=30_000)
        assert [e.id for e in services.library.list()] == before and not staged(services) and not workers()
        assert page.locator("#convert-start").is_enabled()
    finally:
        page.context.close()


def test_a_second_conversion_waits_its_turn_and_each_cancels_only_their_own(browser, app_url, services):
    """Two people convert at once: the second is told it is next in line; cancelling it leaves the
    first one's conversion running."""
    first, second = open_page(browser, app_url), open_page(browser, app_url)
    before = [e.id for e in services.library.list()]
    try:
        for page, repo in ((first, "HuggingFaceTB/SmolLM2-135M-Instruct"), (second, "tiny-random/llava")):
            page.get_by_role("tab", name="Convert").click()
            page.locator("#convert-repo textarea").fill(repo)
        first.click("#convert-start")
        first.locator("#convert-status").get_by_text(re.compile(r"Step \d+ of")).wait_for(timeout=60_000)
        second.click("#convert-start")
        second.locator("#convert-status").get_by_text(
            "Waiting for the conversion running now to finish: yours is next.").wait_for(timeout=30_000)
        second.click("#convert-cancel")
        second.locator("#convert-status").get_by_text("Cancelled: nothing was added to the library").wait_for(
            timeout=30_000)
        # the first one goes on to its export, untouched
        first.wait_for_function("() => document.querySelector('#convert-log textarea').value.includes('optimum')",
                                timeout=120_000)
        assert "Cancelled" not in first.locator("#convert-status").inner_text()
        first.click("#convert-cancel")
        first.locator("#convert-status").get_by_text("Cancelled: nothing was added to the library").wait_for(
            timeout=30_000)
        assert [e.id for e in services.library.list()] == before and not staged(services) and not workers()
        assert services.conversions.line.waiting() == 0
    finally:
        first.context.close()
        second.context.close()


def test_find_the_best_shows_the_plot_and_the_recommendation_and_keeps_the_choice(browser, app_url, services,
                                                                                   output_dir):
    """Three candidates ticked: groups of 128 are said not to fit SmolLM2, int8 is measured, and Stop during int4
    in groups of 64 ends the search: the finished candidate is still offered, with the plot, the table and the
    recommendation, and keeping it puts it, alone, in the library."""
    page = open_page(browser, app_url)
    before = {e.id for e in services.library.list()}
    kept = "SmolLM2-135M-Instruct-int8"
    wanted = ("int8:", "int4-g128:", "int4-g64:")
    try:
        page.get_by_role("tab", name="Convert").click()
        page.locator("#convert-repo textarea").fill("HuggingFaceTB/SmolLM2-135M-Instruct")
        page.get_by_text("Find the best: the candidates to try").click()
        ticked = page.locator("#convert-best-candidates input:checked")
        for _ in range(5):  # boxes unticked in the instant the accordion mounts them can be ticked again by it
            for label in page.locator("#convert-best-candidates label").all():
                if not label.inner_text().startswith(wanted) and label.locator("input").is_checked():
                    label.locator("input").uncheck()
            page.wait_for_timeout(500)
            if ticked.count() == len(wanted):
                break
        assert ticked.count() == len(wanted), page.locator("#convert-best-candidates").inner_text()
        page.click("#convert-find-best")
        page.locator("#convert-status").get_by_text(re.compile(r"Step \d of \d: int8")).wait_for(timeout=300_000)
        page.locator("#convert-status").get_by_text(re.compile(r"Step \d of \d: int4-g64")).wait_for(timeout=600_000)
        page.click("#convert-cancel")  # int8 is measured; int4 in groups of 64 is under way
        page.locator("#convert-best-note").get_by_text("Recommended: int8").wait_for(timeout=120_000)
        note = page.locator("#convert-best-note").inner_text()
        assert "The rule: the smallest candidate whose verdict is same or close" in note
        assert "The search was stopped: these are the candidates that finished." in note
        table = page.locator("#convert-best-table").inner_text()
        assert "skipped" in table and "groups of 128 do not divide" in table and "★ recommended" in table
        assert "int4-g64" not in table and not workers()  # the stopped candidate's process is gone
        page.locator("#convert-best-plot canvas, #convert-best-plot svg").first.wait_for()  # the plot is drawn
        page.screenshot(path=str(output_dir / "convert-find-best.png"), full_page=True)
        assert {e.id for e in services.library.list()} == before  # nothing kept yet
        page.click("#convert-best-keep-button")  # the recommended one is ticked
        page.locator("#convert-status").get_by_text(f"Kept {kept}").wait_for(timeout=30_000)
        assert {e.id for e in services.library.list()} == before | {kept}
        assert not list(services.library.models_dir.glob(".staging-best-*"))
    finally:
        page.context.close()
        if kept in services.library:
            services.library.delete(kept)
