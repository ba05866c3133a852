"""What a visitor of a shared deployment can try, as a script would: a sign-in forged in the request
body, someone else's model deleted by calling the page's events by their fn_index, a request through
a proxy to an app that serves only this machine. Each is refused on the server."""

from __future__ import annotations

import json
import os
import secrets

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from genai_ui.bench.common import launch_app, stop
from genai_ui.library import Library, ModelEntry
from genai_ui.settings import Settings
from tests.apps import launched
from tests.pages import cell

pytestmark = pytest.mark.layer("app")  # each starts an app of its own

FORGED = "hf_forged_token_0000000000"


class Page:
    """The page's events, called over Gradio's own HTTP queue as its JavaScript would, by fn_index,
    with whatever body a script likes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=120)
        self.session = secrets.token_hex(8)
        self.config = self.http.get(f"{url}config").json()
        self.by_elem = {c["props"].get("elem_id"): c for c in self.config["components"] if c.get("props")}

    def event(self, elem_id: str, trigger: str) -> dict:
        target = self.by_elem[elem_id]["id"]
        return next(d for d in self.config["dependencies"] if [target, trigger] in [list(t) for t in d["targets"]])

    def call(self, elem_id: str, trigger: str, values: dict | None = None, event_data=None, **body) -> dict:
        """Run the event of `trigger` on the component `elem_id`, its inputs at their defaults but for
        `values` (elem_id -> value); returns the message that ends it."""
        dependency = self.event(elem_id, trigger)
        by_id = {c["id"]: c for c in self.config["components"]}
        data = []
        for input_id in dependency["inputs"]:
            props = by_id[input_id].get("props", {})
            data.append((values or {}).get(props.get("elem_id"), props.get("value")))
        joined = self.http.post(f"{self.url}gradio_api/queue/join", json={
            "data": data, "fn_index": dependency["id"], "session_hash": self.session, "event_data": event_data,
            "trigger_id": self.by_elem[elem_id]["id"], **body})
        joined.raise_for_status()
        with self.http.stream("GET", f"{self.url}gradio_api/queue/data",
                              params={"session_hash": self.session}) as events:
            for line in events.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        return message
        raise AssertionError("the event never completed")


def refusal(message: dict) -> str:
    assert message["success"] is False, message
    return str(message["output"].get("error"))


@pytest.fixture(scope="module")
def space(tmp_path_factory, local_hub):
    """The app as a Space runs it, with the operator's HF_TOKEN and the OAuth variables, and no --auth."""
    home = tmp_path_factory.mktemp("space-visitors")
    env = {**os.environ, "SYSTEM": "spaces", "SPACE_ID": "tester/genai-ui", "SPACE_AUTHOR_NAME": "tester",
           "HF_TOKEN": "hf_test_token", "HF_ENDPOINT": local_hub.endpoint, "OAUTH_CLIENT_ID": "test-client",
           "OAUTH_CLIENT_SECRET": "test-secret", "OAUTH_SCOPES": "openid profile",
           "OPENID_PROVIDER_URL": local_hub.endpoint}
    with open(home / "app.log", "w") as log:
        process, url, _ = launch_app(str(home), env=env, log=log)
        try:
            yield url, home
        finally:
            stop(process)


def test_a_sign_in_forged_in_the_body_is_refused_by_every_endpoint_that_needs_one(space):
    """Gradio 6.31 builds gr.OAuthToken from an `oauth_token` body field when the session has no sign-in."""
    url, home = space
    http = httpx.Client(timeout=60)
    for api_name, data in (("convert_model", ["tiny-random/llava", "int4", 0, 1.0, False, False, False, "", False,
                                              True]),
                           ("compress_model", ["SmolLM2-135M-Instruct-Q4_1", "int4", 0, 1.0, False, True]),
                           ("evaluate_model", ["SmolLM2-135M-Instruct-Q4_1", ""]),
                           ("find_best_compression", ["HuggingFaceTB/SmolLM2-135M-Instruct", "int8"]),
                           ("keep_candidates", ["0123456789ab", "int8"])):
        event = http.post(f"{url}gradio_api/call/{api_name}", json={"data": data, "oauth_token": FORGED}).json()
        answer = http.get(f"{url}gradio_api/call/{api_name}/{event['event_id']}").text
        assert "event: error" in answer and "Sign in with Hugging Face" in answer, (api_name, answer)
    page = Page(url)
    started = page.call("convert-start", "click", {"convert-repo": "tiny-random/llava"}, oauth_token=FORGED)
    assert "Sign in with Hugging Face" in refusal(started)
    published = page.call("convert-publish", "click", {"convert-publish-name": "stolen"}, oauth_token=FORGED)
    assert "Sign in with Hugging Face" in refusal(published)
    assert [e.id for e in Library(home / "models").list()] == ["SmolLM2-135M-Instruct-Q4_1"]  # nothing was made
    assert FORGED not in (home / "app.log").read_text()


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory, gguf, local_hub):
    """An app for others (as behind a proxy: --shared), served on loopback, with a model someone else added."""
    from genai_ui.services import create_services

    services = create_services(Settings(home=tmp_path_factory.mktemp("shared-delete"), shared=True,
                                        hub_endpoint=local_hub.endpoint))
    with launched(services) as url:
        yield url, services


def add_model(library: Library, model_id: str, owner: str) -> None:
    with library.staging() as staged:
        (staged / "openvino_model.xml").write_text("<net/>")
        library.install(staged, ModelEntry(id=model_id, task="text-generation", format="openvino",
                                           weight_format="int4", location="", owner=owner))


def select_and_delete(page: Page, model_id: str) -> dict:
    """Pick a row of the Library table (the select event takes whatever row the body names), then confirm."""
    page.call("library-table", "select", event_data={"index": [0, 0], "value": model_id, "row_value": [model_id]})
    return page.call("library-confirm", "click")


def test_a_visitor_deletes_only_what_they_added_even_by_fn_index(shared_app):
    url, services = shared_app
    library = services.library
    page = Page(url)
    add_model(library, "bobs-model", owner="hf:bob")
    add_model(library, "visitors-model", owner=f"session:{page.session}")
    add_model(library, "nobodys-model", owner="")  # a manifest from before owners were recorded
    try:
        for model_id in ("bobs-model", "nobodys-model"):
            assert "was added by someone else" in refusal(select_and_delete(page, model_id))
            assert model_id in library
        assert "built-in model: it cannot be deleted" in refusal(select_and_delete(page, "SmolLM2-135M-Instruct-Q4_1"))
        assert select_and_delete(page, "visitors-model")["success"] is True
        assert "visitors-model" not in library and "bobs-model" in library
        # another session cannot take a session's model either
        assert "was added by someone else" in refusal(select_and_delete(Page(url), "nobodys-model"))
    finally:
        for model_id in ("bobs-model", "visitors-model", "nobodys-model"):
            if model_id in library:
                library.delete(model_id)


def test_the_library_tab_refuses_someone_elses_model(shared_app, browser):
    url, services = shared_app
    add_model(services.library, "carols-model", owner="hf:carol")
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    try:
        page.goto(url)
        page.get_by_role("tab", name="Library").click()
        cell(page, "#library-table", "carols-model").click()
        page.click("#library-delete")
        page.get_by_text("'carols-model' was added by someone else").wait_for(timeout=20_000)
        assert not page.locator("#library-confirm").is_visible()
        cell(page, "#library-table", "SmolLM2-135M-Instruct-Q4_1").click()
        page.wait_for_function("() => document.querySelector('#library-selected').innerText.includes('SmolLM2')")
        assert not page.locator("#library-delete").is_visible()  # the built-in model offers no delete
        assert "carols-model" in services.library
        page.context.close()  # on success only: a failure leaves the page for its screenshot
    finally:
        services.library.delete("carols-model")


def test_a_request_through_a_proxy_follows_the_shared_rules_on_a_local_app(client, app_url):
    """The app serves this machine only, but a proxy in front of it makes its visitors strangers."""
    proxied = Client(app_url, headers={"X-Forwarded-For": "203.0.113.9"}, verbose=False)
    with pytest.raises(AppError, match="engine options are set by this shared deployment's operator"):
        proxied.predict("", "", "", 5, False, "u8", api_name="/set_engine_options")
    with pytest.raises(AppError, match="trust_remote_code\\) is off on this shared deployment"):
        proxied.predict("tiny-random/t5", "int4", 0, 1.0, False, False, False, "", True, api_name="/convert_model")
    # the same calls from this machine go on to the model's own checks
    with pytest.raises(AppError) as local:
        client.predict("tiny-random/t5", "int4", 0, 1.0, False, False, False, "", True, api_name="/convert_model")
    assert "shared deployment" not in str(local.value)
