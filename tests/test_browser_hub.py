"""The Hub and Library tabs in a real browser, against the local Hub."""

import logging
from pathlib import Path

from tests.pages import cell

GGUF_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
GGUF_ID = "SmolLM2-135M-Instruct-GGUF-Q4_1"


def open_hub(browser, app_url):
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="Hub").click()
    page.wait_for_function("() => /\\d+ models?|No model/.test(document.querySelector('#hub-status').innerText)")
    return page


def listings(local_hub) -> int:
    return sum(1 for method, path in local_hub.requests if method == "GET" and path.rstrip("/") == "/api/models")


def test_search_select_download_open_and_delete(browser, app_url, services, local_hub, output_dir):
    page = open_hub(browser, app_url)
    try:
        before = listings(local_hub)
        page.locator("#hub-query textarea").press_sequentially("SmolLM2-135M-Instruct-GGUF", delay=40)
        page.wait_for_function("() => document.querySelector('#hub-status').innerText.startsWith('2 models')")
        # a search after a pause in typing, not one per keystroke (26 of them)
        assert listings(local_hub) - before <= 3
        cell(page, "#hub-results", GGUF_REPO).click()
        details = page.locator("#hub-details")
        details.get_by_text("Runs here").wait_for()
        assert "Architecture llama" in details.inner_text() and "License apache-2.0" in details.inner_text()
        assert "Q4_1" in page.locator("#hub-gguf-file input").input_value()
        # the pre-flight: what the file costs here and how fast it would answer, before the download
        page.locator("#hub-preflight-note").get_by_text("Before you fetch it").wait_for()
        cell(page, "#hub-preflight", "Q4_1").wait_for()
        shown = page.locator("#hub-preflight").inner_text()
        assert all(words in shown for words in ("Memory to run", "SmolLM2-135M-Instruct.Q4_1.gguf", "tokens/s", "✓"))

        page.click("#hub-download")
        page.locator("#hub-progress").get_by_text("is in your library").wait_for(timeout=60_000)
        page.screenshot(path=str(output_dir / "hub-downloaded.png"), full_page=True)
        entry = services.library.get(GGUF_ID)
        assert entry.format == "gguf" and entry.source["repo_id"] == GGUF_REPO

        page.click("#hub-open-text-generation")  # straight to a chat with it
        page.wait_for_selector("#chat-input textarea", state="visible")
        assert page.locator("#chat-model input").input_value().startswith(GGUF_ID)

        page.get_by_role("tab", name="Library").click()
        cell(page, "#library-table", GGUF_ID).click()
        page.click("#library-delete")
        page.get_by_text(f"Delete {GGUF_ID} and its 98.4 MB of files?").wait_for()
        assert GGUF_ID in services.library  # nothing goes before the confirmation
        page.click("#library-confirm")
        page.wait_for_function(f"() => !document.querySelector('#library-table').innerText.includes('{GGUF_ID}')")
        assert GGUF_ID not in services.library and not Path(entry.location).exists()
    finally:
        page.context.close()
        if GGUF_ID in services.library:
            services.library.delete(GGUF_ID)


def test_a_token_is_for_its_session_only_and_never_shown(browser, app_url, caplog):
    caplog.set_level(logging.DEBUG)  # every logger of the server, the Hub client's included
    mine, other = open_hub(browser, app_url), open_hub(browser, app_url)
    try:
        mine.get_by_text("Hugging Face token (for gated and private models)").click()
        box = mine.locator("#hub-token input")
        box.fill("hf_wrong")
        box.press("Enter")
        mine.get_by_text("The Hub does not accept this token").wait_for()
        box.fill("hf_test_token")
        box.press("Enter")
        mine.locator("#hub-token-status").get_by_text("Signed in as tester for this session.").wait_for()
        assert box.input_value() == "" and "hf_test_token" not in mine.content()

        for page in (mine, other):
            page.locator("#hub-query textarea").fill("tiny-llava-gated")
            page.keyboard.press("Enter")
            page.wait_for_function("() => document.querySelector('#hub-status').innerText.startsWith('1 model')")
            cell(page, "#hub-results", "gated-org/tiny-llava-gated").click()
            page.locator("#hub-details").get_by_text("Gated: needs a token with access").wait_for()
        mine.locator("#hub-card").get_by_text("Gated tiny LLaVA").wait_for()
        other.locator("#hub-card").get_by_text("needs a token with access").wait_for()
        assert "Gated tiny LLaVA" not in other.locator("#hub-card").inner_text()
        assert caplog.records and "hf_test_token" not in caplog.text
    finally:
        mine.context.close()
        other.context.close()


def test_the_hub_down_is_one_line_in_the_tab(browser, hubless_app):
    page = browser.new_context().new_page()
    try:
        page.goto(hubless_app)
        page.get_by_role("tab", name="Hub").click()
        page.locator("#hub-status").get_by_text("cannot be reached: the local library still works").wait_for()
        page.get_by_role("tab", name="Library").click()
        cell(page, "#library-table", "SmolLM2-135M-Instruct-Q4_1").wait_for()
    finally:
        page.context.close()


def test_a_checkpoint_is_offered_for_conversion(browser, app_url):
    page = open_hub(browser, app_url)
    try:
        page.locator("#hub-query textarea").fill("HuggingFaceTB/SmolLM2-135M-Instruct")
        page.keyboard.press("Enter")
        cell(page, "#hub-results", "HuggingFaceTB/SmolLM2-135M-Instruct").click()
        page.locator("#hub-details").get_by_text("runs here once converted to OpenVINO IR").wait_for()
        assert not page.locator("#hub-download").is_visible()
        page.click("#hub-convert")
        page.locator("#convert-start").wait_for()
        assert page.locator("#convert-repo textarea").input_value() == "HuggingFaceTB/SmolLM2-135M-Instruct"
    finally:
        page.context.close()
