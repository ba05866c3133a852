"""A gated model that one person fetched into a shared library is marked so, and a session without
access to its repo neither sees it nor runs it: not in the lists, not in the page, not by its id."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from genai_ui.access import Caller
from genai_ui.hub.downloads import download_model
from genai_ui.manage import restricted
from genai_ui.settings import Settings
from tests.apps import launched

GATED = "gated-org/SmolLM2-135M-Instruct-GGUF"  # tester (hf_test_token) was granted it, someone (hf_other_token) not


@pytest.fixture(scope="module")
def shared(tmp_path_factory, gguf, local_hub):
    """An app for others (--shared) on loopback, with the gated GGUF fetched by a signed-in tester."""
    from genai_ui.services import create_services

    services = create_services(Settings(home=tmp_path_factory.mktemp("gated"), shared=True,
                                        hub_endpoint=local_hub.endpoint))
    entry = download_model(hub=services.hub, library=services.library, repo_id=GATED, token="hf_test_token",
                           owner="hf:tester")
    with launched(services) as url:
        yield url, services, entry


def visitor(token: str = "", owner: str = "") -> Caller:
    return Caller(shared=True, operator=False, hub_user=owner.removeprefix("hf:"), hub_token=token)


def test_the_manifest_marks_the_model_gated(shared):
    _, services, entry = shared
    assert entry.source["gated"] == "auto" and restricted(services.library.get(entry.id)) == GATED


def test_who_sees_and_runs_a_gated_model(shared):
    _, services, entry = shared
    access = services.access
    allowed = {"the one who fetched it": visitor(owner="hf:tester"),
               "another session with a token that reaches the repo": visitor("hf_test_token"),
               "the operator": Caller(shared=True, operator=True),
               "this machine's own user, on a local app": Caller()}
    for who, caller in allowed.items():
        assert entry.id in [e.id for e in access.list(caller)], who
        assert access.get(caller, entry.id).id == entry.id, who
    for who, caller in {"an anonymous visitor": visitor(), "a token without access": visitor("hf_other_token"),
                        "a token the Hub does not know": visitor("hf_made_up_token_123")}.items():
        assert entry.id not in [e.id for e in access.list(caller)], who
        with pytest.raises(Exception, match=f"No model '{entry.id}' in the library") as refused:
            services.chat.reply(message="Hi", model=entry.id, caller=caller)
        assert f"{entry.id}," not in str(refused.value) and not str(refused.value).endswith(f"{entry.id}."), who


def test_a_visitor_without_access_finds_it_nowhere(shared):
    url, services, entry = shared
    client = Client(url, verbose=False)
    assert entry.id not in [m["id"] for m in client.predict("", api_name="/local_models")]
    with pytest.raises(AppError, match=f"No model '{entry.id}' in the library") as refused:
        client.predict("Hi", [], entry.id, "", 8, 0.0, api_name="/chat")
    assert "SmolLM2-135M-Instruct-Q4_1" in str(refused.value)  # what they may use is named, this one is not
    with pytest.raises(AppError, match=f"No model '{entry.id}'"):
        client.predict(entry.id, api_name="/engine_options")
    assert entry.id not in httpx.get(f"{url}config", timeout=30).text  # the page as built for everyone


def test_the_library_tab_of_a_visitor_without_access_leaves_it_out(shared, browser):
    url, services, entry = shared
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(url)
    page.get_by_role("tab", name="Library").click()
    page.wait_for_function("() => document.querySelector('#library-summary').innerText.includes('models')")
    table = page.locator("#library-table").inner_text()
    assert "SmolLM2-135M-Instruct-Q4_1" in table and entry.id not in table
    page.get_by_role("tab", name="Chat").click()
    page.locator("#chat-model input").click()
    page.get_by_role("option").first.wait_for()
    options = page.get_by_role("option").all_inner_texts()
    assert options and not any(entry.id in o for o in options), options
    page.context.close()
