"""Steps the browser tests share."""

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeout


def cell(page, table: str, text: str):
    """A visible cell of a Gradio table (it also keeps hidden copies of its cells, for measuring)."""
    return page.locator(f"{table} span.text", has_text=re.compile(f"^{re.escape(text)}$")).first


def set_slider(page, elem_id: str, value) -> None:
    """Type `value` into a slider's number box until the slider holds it. A number typed in the instant
    the slider is mounted (an accordion just opened) is sometimes reset to the slider's initial value
    by the mount: 1 run in 30 on an idle page, measured with a bare gr.Slider in an accordion; on a fresh-clone
    run (December 7) it came after the value had shown, so the value must hold half a second later too."""
    box, bar = f"#{elem_id} input[type=number]", f"#{elem_id} input[type=range]"
    holds = "([bar, value]) => document.querySelector(bar)?.value === value"
    for _ in range(5):
        page.fill(box, str(value))
        page.press(box, "Enter")
        try:
            page.wait_for_function(holds, arg=[bar, str(value)], timeout=3_000)
        except PlaywrightTimeout:
            continue
        page.wait_for_timeout(500)  # the mount's reset can come just after the value shows: it must still hold
        if page.evaluate(holds, [bar, str(value)]):
            return
    raise AssertionError(f"#{elem_id} did not take {value}: it shows {page.input_value(bar)}")


def pick(page, dropdown: str, label: str) -> None:
    """Choose `label` in a Gradio dropdown (`dropdown` is its selector)."""
    page.click(f"{dropdown} input")
    page.click(f"ul[role=listbox] >> text={label}")


def greedy_answer(page, question: str) -> str:
    """Ask the Chat tab `question` with temperature 0; the reply as shown, its metrics line included."""
    page.click("text=Sampling")
    set_slider(page, "chat-temperature", 0)
    page.fill("#chat-input textarea", question)
    page.click("#chat-send")
    page.wait_for_selector("#chatbot .message.bot sub", timeout=60_000)
    return page.locator("#chatbot .message.bot").last.inner_text()
