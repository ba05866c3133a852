"""`python app.py` itself: flags, the page, and the MCP server with --mcp."""

import asyncio
import base64
import concurrent.futures
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from genai_ui.bench import free_port, wait_for_page

pytestmark = pytest.mark.layer("app")  # each starts an app of its own

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mcp_app(tmp_path_factory):
    port = free_port()
    home = tmp_path_factory.mktemp("cli-home")
    log = open(home / "app.log", "w")  # a pipe nobody reads would fill up and stall the app
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--home", str(home), "--mcp"],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    wait_for_page(url, process)
    yield url, home
    process.terminate()
    process.wait(10)
    log.close()


def test_app_serves_page_and_fills_its_home(mcp_app):
    url, home = mcp_app
    page = urllib.request.urlopen(url, timeout=5).read().decode()
    assert "<title>genai_ui</title>" in page or "genai_ui" in page
    assert (home / "models" / "SmolLM2-135M-Instruct-Q4_1" / "genai_ui.json").is_file()


def test_mcp_tools_answer(mcp_app):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    url, _ = mcp_app

    async def session_calls():
        async with streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                answer = await session.call_tool("chat", {"message": "What is the capital of France?",
                                                          "temperature": 0.0, "max_new_tokens": 32})
                # an image as MCP clients send one (a data URI): read, then no vision model in this library
                captions = [await session.call_tool("caption", {"image": uri}) for uri in (png, text)]
                search = await session.call_tool("search_documents", {"collection": "Notes", "question": "Who?"})
                return {t.name for t in tools.tools}, answer, captions, search

    png = "data:image/png;base64," + base64.b64encode(_png()).decode()
    text = "data:image/png;base64," + base64.b64encode(b"not a picture").decode()
    # in a thread of its own: the session's browser (playwright) may hold this thread's event loop
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        names, answer, (caption, not_image), search = pool.submit(asyncio.run, session_calls()).result()
    assert {"devices", "local_models", "chat", "caption", "benchmark", "evaluate_model", "find_best_compression",
            "ask_documents", "search_documents", "add_documents", "create_collection"} <= names
    assert search.isError and "No collection 'Notes'. There is none yet: create one." in search.content[0].text
    assert not answer.isError and "Paris" in answer.content[0].text
    assert caption.isError and "No vision model in the library yet" in caption.content[0].text
    assert not_image.isError and "is not an image this app can read" in not_image.content[0].text


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), (255, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def test_help_lists_the_flags():
    out = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    for flag in ("--host", "--port", "--share", "--mcp", "--device", "--home"):
        assert flag in out
