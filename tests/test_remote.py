"""A remote engine: the chat and vision models of another genai_ui, a second process serving /v1 with a key,
listed beside the library's and answering with the same metrics; Stop closes the stream and the other
server stops the reply; a wrong key or a server that is down is said, and the key is never shown."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from genai_ui.bench.common import install, launch_app, stop
from genai_ui.builtin import BUILTIN_ID
from genai_ui.engines.llm import GenerationParams
from genai_ui.engines.structured import json_reply
from genai_ui.errors import InvalidParameter, ModelNotFound
from genai_ui.run.vision import user_message
from genai_ui.services import create_services
from genai_ui.settings import Settings
from genai_ui.ui.chat_tab import model_choices
from genai_ui.ui.pickers import model_choices as picker_choices

pytestmark = pytest.mark.layer("engine")  # a second app in a subprocess

KEY = "sk-remote-test-key"
GREEDY = GenerationParams(temperature=0.0, max_new_tokens=24)


@pytest.fixture(scope="module")
def other(tmp_path_factory, vision_model):
    """A second genai_ui, in its own process, with the built-in model and the tiny LLaVA, behind a key."""
    home = tmp_path_factory.mktemp("other-home")
    install(home, Path(vision_model.location), vision_model.id, vision_model.task, vision_model.weight_format)
    log = tmp_path_factory.mktemp("other-log") / "app.log"
    with open(log, "w") as out:
        server, url, _ = launch_app(str(home), env={**os.environ, "GENAI_UI_API_KEY": KEY}, log=out,
                                    args=("--offline",))
    try:
        yield url, log
    finally:
        stop(server)


@pytest.fixture(scope="module")
def here(tmp_path_factory, other):
    url, _ = other
    wrong = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
    return create_services(Settings(home=tmp_path_factory.mktemp("here"), device="CPU", offline=True,
                                    remote=f"{url}v1 {KEY},{url}v1 sk-wrong,{wrong}"))


def test_the_remote_models_are_listed_beside_the_librarys(here, other, vision_model):
    url, _ = other
    name = url.split("/")[2]
    chats = dict((value, label) for label, value in model_choices(here))
    assert chats[BUILTIN_ID] == here.library.get(BUILTIN_ID).label()  # the library's own first
    assert chats[f"remote:1:{BUILTIN_ID}"] == f"{BUILTIN_ID} · on {name}"
    assert f"remote:1:{vision_model.id}" not in chats  # the other server says it is a vision model
    visions = [value for _, value in picker_choices(here, "image-text-to-text")]
    assert visions == [f"remote:1:{vision_model.id}"]
    assert here.remotes.notice == f"Not answering: {name}, 127.0.0.1:9."  # the wrong key, and the port of no one
    assert KEY not in repr(here.settings) and KEY not in repr(here.remotes.remotes)


def test_a_remote_reply_streams_with_its_metrics(here, other):
    url, _ = other
    updates = list(here.chat.reply(message="What is the capital of France?", model=f"remote:1:{BUILTIN_ID}",
                                   params=GREEDY))
    assert len(updates) >= 2 and all(updates[i].text.startswith(updates[i - 1].text) for i in range(1, len(updates)))
    final = updates[-1]
    assert "Paris" in final.text, final.text
    m = final.metrics
    assert m.engine == f"remote: {url.split('/')[2]}" and m.summary().startswith("remote: 127.0.0.1")
    assert m.ttft_ms > 0 and m.tokens_per_s > 0 and m.input_tokens > 10 and 0 < m.output_tokens <= 24


def test_json_mode_goes_to_the_remote_server(here):
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}}, "required": ["city"],
              "additionalProperties": False}
    *_, final = here.chat.reply(message="Where is the Eiffel Tower?", model=f"remote:1:{BUILTIN_ID}",
                                params=GenerationParams(temperature=0.0, max_new_tokens=60,
                                                        structure=json_reply(json.dumps(schema))))
    jsonschema.validate(json.loads(final.text), schema)


def test_stop_closes_the_stream_and_the_remote_server_stops(here, other):
    _, log = other
    cancel = threading.Event()
    params = GenerationParams(temperature=0.0, max_new_tokens=2000)
    for n, update in enumerate(here.chat.reply(message="Write a very long story about a sailor.",
                                               model=f"remote:1:{BUILTIN_ID}", params=params, cancel=cancel)):
        if n == 2:
            cancel.set()
    assert update.metrics.finish == "cancelled" and update.metrics.output_tokens < 2000
    deadline = time.monotonic() + 30
    while "its reader went away" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "its reader went away" in log.read_text(), "the other server's engine stopped the reply"
    assert KEY not in log.read_text()


def test_a_question_with_an_image_goes_to_the_remote_vision_model(here, vision_model, tmp_path):
    from PIL import Image

    from genai_ui.engines.pictures import load_picture

    Image.new("RGB", (64, 48), "red").save(tmp_path / "red.png")
    picture = load_picture(tmp_path / "red.png")
    model = f"remote:1:{vision_model.id}"
    *_, seen = here.vision.reply(messages=[user_message("What color is this?", [picture])], model=model, params=GREEDY)
    *_, unseen = here.vision.reply(messages=[user_message("What color is this?", [])], model=model, params=GREEDY)
    assert seen.text and seen.metrics.input_tokens > unseen.metrics.input_tokens + 10  # the image reached it


def test_a_model_the_server_lacks_or_a_request_it_refuses_is_said(here):
    with pytest.raises(ModelNotFound, match="remote:3:x"):  # the server that is down lists nothing
        list(here.chat.reply(message="Hi", model="remote:3:x"))
    broken = json_reply('{"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}')
    with pytest.raises(InvalidParameter, match="stopped the reply: The engine cannot hold a reply to this schema"):
        list(here.chat.reply(message="Hi", model=f"remote:1:{BUILTIN_ID}", params=GenerationParams(structure=broken)))


def test_the_chat_tab_answers_from_the_remote_model(here, other, browser, output_dir):
    from tests.apps import launched
    from tests.pages import greedy_answer, pick

    name = other[0].split("/")[2]
    with launched(here) as url:
        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        page.goto(url)
        page.wait_for_selector("#chat-input textarea")
        pick(page, "#chat-model", f"{BUILTIN_ID} · on {name}")
        page.click("text=Advanced: engine")
        page.wait_for_function("() => document.querySelector('#engine-status')?.innerText.includes('remote server')")
        reply = greedy_answer(page, "What is the capital of France?")
        assert "Paris" in reply and f"remote: {name}" in reply and "tokens/s" in reply, reply
        page.screenshot(path=str(output_dir / "remote-chat.png"), full_page=True)
        page.context.close()
