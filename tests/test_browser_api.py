"""The API tab in a real browser: the address as the browser reaches the app, and code that works as it is
copied: the Python snippet run against the app, the curl one through curl."""

from __future__ import annotations

import contextlib
import io
import subprocess

from genai_ui.builtin import BUILTIN_ID


def code_of(page, elem_id: str) -> str:
    """A code box's text, line by line as CodeMirror draws it (every line: the snippets are short)."""
    return page.evaluate(f"() => [...document.querySelectorAll('#{elem_id} .cm-line')].map(l => l.textContent)"
                         ".join('\\n')")


def test_the_api_tab_gives_code_that_works_as_copied(browser, app_url, output_dir):
    page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="API").click()
    page.wait_for_selector("#api-status :text('Base URL')", timeout=30_000)
    assert f"{app_url}v1" in page.inner_text("#api-status") and "no key is needed" in page.inner_text("#api-status")
    page.wait_for_function(f"() => document.querySelector('#api-models').innerText.includes('{BUILTIN_ID}')",
                           timeout=10_000)
    page.screenshot(path=str(output_dir / "api-tab.png"), full_page=True)

    python = code_of(page, "api-python")
    assert f'base_url="{app_url}v1"' in python and f'model="{BUILTIN_ID}"' in python
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(python, "api-python", "exec"), {})
    assert BUILTIN_ID in printed.getvalue() and "Paris" in printed.getvalue(), printed.getvalue()

    curl = code_of(page, "api-curl")
    streamed = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=120)
    assert streamed.returncode == 0 and BUILTIN_ID in streamed.stdout and "data: [DONE]" in streamed.stdout
    compile(code_of(page, "api-langchain"), "api-langchain", "exec")  # langchain is not installed here
    page.context.close()
