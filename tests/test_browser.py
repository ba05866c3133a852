"""A real browser (Debian's chromium, driven by playwright) on the launched app."""

import pytest

from tests.pages import set_slider


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#chat-input textarea")
    # greedy, so the answers are the model's likeliest ones
    page.click("text=Sampling")
    set_slider(page, "chat-temperature", 0)
    yield page
    context.close()


def ask(page, text):
    page.fill("#chat-input textarea", text)
    page.click("#chat-send")


def bot_messages(page):
    return page.locator("#chatbot .message.bot")


def test_ask_and_see_the_streamed_answer(page, browser, app_url, output_dir):
    ask(page, "What is the capital of France?")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#chatbot .message.bot')].some(m => m.innerText.includes('Paris'))",
        timeout=60_000)
    page.wait_for_selector("#chatbot .message.bot sub", timeout=30_000)  # the metrics line comes last
    assert "tokens/s" in bot_messages(page).last.inner_text()
    page.screenshot(path=str(output_dir / "chat.png"), full_page=True)

    # another browser session sees none of it
    other = browser.new_context().new_page()
    other.goto(app_url)
    other.wait_for_selector("#chat-input textarea")
    assert other.locator("#chatbot .message").count() == 0
    other.context.close()


def test_stop_undo_regenerate_clear(page):
    ask(page, "Write a very long story about a dragon and a knight.")
    page.wait_for_function(
        "() => { const b = document.querySelectorAll('#chatbot .message.bot'); "
        "return b.length && b[b.length-1].innerText.trim().length > 20 }", timeout=60_000)
    page.click("#chat-stop")
    page.wait_for_selector("#chatbot .message.bot sub", timeout=30_000)
    assert "stopped" in bot_messages(page).last.inner_text(), "Stop keeps the partial reply and says so"

    page.click("#chat-regenerate")
    page.wait_for_selector("#chatbot .message.bot sub", state="detached", timeout=10_000)  # a new reply began
    page.wait_for_selector("#chatbot .message.bot sub", timeout=60_000)
    assert page.locator("#chatbot .message.user").count() == 1
    assert page.locator("#chatbot .message.bot").count() == 1

    page.click("#chat-undo")
    page.wait_for_function("() => document.querySelectorAll('#chatbot .message').length === 0", timeout=10_000)
    assert page.input_value("#chat-input textarea").startswith("Write a very long story")

    ask(page, "Hello!")
    page.wait_for_selector("#chatbot .message.bot sub", timeout=60_000)
    page.click("#chat-clear")
    page.wait_for_function("() => document.querySelectorAll('#chatbot .message').length === 0", timeout=10_000)

    # Clear in the middle of a reply drops it for good: it does not come back when the engine ends
    ask(page, "Write a very long story about a dragon and a knight.")
    page.wait_for_selector("#chatbot .message.bot", timeout=60_000)
    page.click("#chat-clear")
    page.wait_for_timeout(2000)
    assert page.locator("#chatbot .message").count() == 0


def test_empty_message_gets_a_clear_message(page):
    page.click("#chat-send")
    page.wait_for_selector("text=Type a message first", timeout=10_000)
    assert page.locator("#chatbot .message").count() == 0


def test_an_example_question_is_asked_by_a_click(page):
    page.get_by_text("What is the capital of France?").first.click()
    # the reply is sampled (the page's default temperature), so what it says is the model's: that it came
    # is the page's, its metrics line last
    page.wait_for_selector("#chatbot .message.bot sub", timeout=60_000)
    assert page.locator("#chatbot .message.user").first.inner_text().strip() == "What is the capital of France?"
    assert "tokens/s" in page.locator("#chatbot .message.bot").first.inner_text()


def test_model_picker_follows_the_library(browser, app_url, services, gguf):
    from genai_ui.builtin import GGUF_NAME
    from genai_ui.library import ModelEntry

    with services.library.staging() as staged:
        (staged / GGUF_NAME).hardlink_to(gguf)
        services.library.install(staged, ModelEntry(id="picker-copy", task="text-generation", format="gguf",
                                                    weight_format="Q4_1", location="", model_file=GGUF_NAME))
    try:
        page = browser.new_context().new_page()
        page.goto(app_url)
        page.click("#chat-model input")
        page.wait_for_selector("ul[role=listbox] >> text=picker-copy", timeout=10_000)
        page.context.close()
    finally:
        services.library.delete("picker-copy")


def reply_text(page) -> str:
    """The last reply's own text, without the metrics line under it."""
    return page.evaluate("() => { const b = [...document.querySelectorAll('#chatbot .message.bot')].pop(); "
                         "const c = b.cloneNode(true); c.querySelectorAll('sub').forEach(s => s.remove()); "
                         "return c.innerText }")


def test_json_mode_holds_the_reply_to_the_schema(page):
    import json

    import jsonschema

    from genai_ui.ui.chat_tab import SCHEMA_EXAMPLE

    page.click("#chat-json")
    page.check("#chat-json-on input")
    ask(page, "What is the capital of France?")
    page.wait_for_selector("#chatbot .message.bot sub", timeout=60_000)
    jsonschema.validate(json.loads(reply_text(page)), json.loads(SCHEMA_EXAMPLE))

    page.locator("#chat-json-schema .cm-content").fill('{"type": "objekt"}')
    ask(page, "And of Italy?")
    page.wait_for_selector("text=is not a valid JSON Schema", timeout=10_000)
    assert page.locator("#chatbot .message.user").count() == 1, "a refused question is not added"
