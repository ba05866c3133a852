"""The Chat tab's Advanced panel in a real browser: speculative decoding chosen, applied once, seen in the metrics."""

import pytest

from genai_ui.engines.options import EngineOptions
from tests.models import install_folder, smollm2_ir, smollm2_ir_fp16
from tests.pages import greedy_answer, pick


@pytest.fixture
def models(services):
    install_folder(services.library, "smollm2-int4", smollm2_ir(), "int4")
    install_folder(services.library, "smollm2-fp16", smollm2_ir_fp16(), "fp16")
    yield
    for model_id in ("smollm2-int4", "smollm2-fp16"):
        services.chat.options.set(model_id, EngineOptions())
        services.pipelines.unload(model_id)


def test_speculative_decoding_from_the_advanced_panel(browser, app_url, services, models, output_dir):
    page = browser.new_context(viewport={"width": 1280, "height": 1200}).new_page()
    page.goto(app_url)
    page.wait_for_selector("#chat-input textarea")
    pick(page, "#chat-model", "smollm2-fp16")
    page.click("text=Advanced: engine")
    page.wait_for_function("() => document.querySelector('#engine-status')?.innerText.includes('smollm2-fp16')")
    assert "default options" in page.inner_text("#engine-status")

    page.click("#engine-speedup >> text=Speculative decoding (draft model)")
    page.click("#engine-apply")  # no draft picked yet: said, nothing reloaded
    page.wait_for_selector(".toast-body >> text=Pick a draft model", timeout=10_000)

    pick(page, "#engine-draft", "smollm2-int4")
    page.click("#engine-apply")
    page.wait_for_function("() => document.querySelector('#engine-status')?.innerText.includes('reloaded on CPU in')",
                           timeout=60_000)
    status = page.inner_text("#engine-status")
    assert "speculative decoding with smollm2-int4 (5 tokens a step)" in status and "Remembered" in status
    assert services.chat.options.get("smollm2-fp16", "CPU").draft_model == "smollm2-int4"
    loaded = services.pipelines.current("text-generation")

    reply = greedy_answer(page, "What is the capital of France?")
    assert "Paris" in reply and "proposed tokens accepted" in reply
    assert "model loaded" not in reply  # applied once: the message ran on the engine already loaded
    assert services.pipelines.current("text-generation") is loaded
    page.screenshot(path=str(output_dir / "chat-advanced.png"), full_page=True)

    # another page opened on the same model shows what is remembered for it
    other = browser.new_context().new_page()
    other.goto(app_url)
    other.wait_for_selector("#chat-input textarea")
    pick(other, "#chat-model", "smollm2-fp16")
    other.click("text=Advanced: engine")
    other.wait_for_function("() => document.querySelector('#engine-status')?.innerText.includes('smollm2-int4')")
    other.context.close()
    page.context.close()
