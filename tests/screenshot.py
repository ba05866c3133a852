"""The README's picture: `python -m tests.screenshot` starts the app on a new home (the built-in model),
asks the Chat tab a question in Debian's Chromium and saves the page, reply and metrics shown, as
docs/screenshot.png."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from genai_ui.bench.common import launch_app, stop

from .conftest import CHROMIUM, CHROMIUM_ARGS

QUESTION = "What is the capital of France?"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DOCS / "screenshot.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="genai-ui-screenshot-") as home:
        server, url, _ = launch_app(home)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(url)
                page.locator("#chat-input textarea").fill(QUESTION)
                page.locator("#chat-send").click()
                page.locator("#chatbot sub").first.wait_for(timeout=180_000)  # the reply's metrics line: it is done
                page.screenshot(path=str(args.output))
                browser.close()
        finally:
            stop(server)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
