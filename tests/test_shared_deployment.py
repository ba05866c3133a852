"""The app as strangers reach it: `python app.py` as on a Space (SPACE_ID set), with a login, the
operator's HF_TOKEN, and a small upload limit; and the rules of a shared deployment."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from genai_ui.access import RedactTokens, check_engine_options, check_remote_code
from genai_ui.bench.common import launch_app, stop
from genai_ui.settings import Settings

pytestmark = pytest.mark.layer("app")  # each starts an app of its own

ROOT = Path(__file__).resolve().parent.parent
OPERATOR_TOKEN = "hf_test_token"  # a real token of the local Hub, with access to its gated repos
LOGIN = ("ada", "lovelace-1815")


@pytest.fixture(scope="module")
def space_app(tmp_path_factory, local_hub):
    home = tmp_path_factory.mktemp("space-home")
    env = {**os.environ, "SYSTEM": "spaces", "SPACE_ID": "tester/genai-ui", "HF_TOKEN": OPERATOR_TOKEN, "HF_ENDPOINT": local_hub.endpoint,
           "GENAI_UI_AUTH": f"{LOGIN[0]}:{LOGIN[1]}", "GENAI_UI_MAX_UPLOAD_MB": "1",
           # what a Space gives an app with hf_oauth: true (values of no use outside a Space)
           "OAUTH_CLIENT_ID": "test-client", "OAUTH_CLIENT_SECRET": "test-secret", "OAUTH_SCOPES": "openid profile",
           "OPENID_PROVIDER_URL": local_hub.endpoint}
    log_path = home / "app.log"
    with open(log_path, "w") as log:
        # --share as an operator might pass it: a Space does not offer it
        process, url, _ = launch_app(str(home), env=env, log=log, args=("--share",))
        try:
            yield url, log_path
        finally:
            stop(process)


def test_a_login_is_required(space_app):
    url, _ = space_app
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url + "gradio_api/info", timeout=10)
    assert refused.value.code == 401
    with pytest.raises(Exception):
        Client(url, verbose=False)
    client = Client(url, auth=LOGIN, verbose=False)
    answer = client.predict("What is the capital of France?", [], "", "", 32, 0.0, api_name="/chat")
    assert "Paris" in answer


def test_conversions_need_a_sign_in_on_a_space(space_app):
    url, _ = space_app
    client = Client(url, auth=LOGIN, verbose=False)
    with pytest.raises(AppError, match="Sign in with Hugging Face .* to convert on this Space"):
        client.predict("tiny-random/llava", api_name="/convert_model")
    with pytest.raises(AppError, match="Sign in with Hugging Face"):
        client.predict("SmolLM2-135M-Instruct-Q4_1", api_name="/compress_model")
    with pytest.raises(AppError, match="Sign in with Hugging Face .* to evaluate models on this Space"):
        client.predict("SmolLM2-135M-Instruct-Q4_1", "", api_name="/evaluate_model")
    with pytest.raises(AppError, match="Sign in with Hugging Face .* to find the best compression on this Space"):
        client.predict("HuggingFaceTB/SmolLM2-135M-Instruct", "int8", api_name="/find_best_compression")
    with pytest.raises(AppError, match="Sign in with Hugging Face .* to keep candidates on this Space"):
        client.predict("0123456789ab", "int8", api_name="/keep_candidates")


def test_the_operator_token_is_neither_lent_nor_echoed(space_app):
    """HF_TOKEN on a shared deployment opens no gated repo to visitors (this token would open the
    one asked for), and appears in no answer of any endpoint and no line of the server's log."""
    url, log_path = space_app
    client = Client(url, auth=LOGIN, verbose=False)
    answers = [client.predict(api_name="/devices"), client.predict(api_name="/local_models"),
               client.predict("SmolLM2", api_name="/search_models"),
               client.predict("What is the capital of France?", [], "", "", 16, 0.0, api_name="/chat")]
    refusals = []
    for call in (lambda: client.predict("gated-org/SmolLM2-135M-Instruct-GGUF", api_name="/download_model"),
                 lambda: client.predict("../../etc/passwd", api_name="/model_details")):
        with pytest.raises(AppError) as refused:
            call()
        refusals.append(str(refused.value))
    assert "gated" in refusals[0].lower() or "token" in refusals[0].lower()
    for text in map(str, answers + refusals):
        assert OPERATOR_TOKEN not in text and OPERATOR_TOKEN[3:] not in text
    log = log_path.read_text()
    assert OPERATOR_TOKEN not in log and "HF_TOKEN is set but not lent" in log
    assert "--share is not offered on a Space" in log and "gradio.live" not in log


def test_uploads_above_the_limit_are_refused(space_app, tmp_path):
    url, _ = space_app
    client = Client(url, auth=LOGIN, verbose=False)
    big = tmp_path / "big.png"
    from PIL import Image

    Image.frombytes("RGB", (1024, 1024), os.urandom(1024 * 1024 * 3)).save(big)  # ~3 MB of noise
    assert big.stat().st_size > 1024 * 1024
    with pytest.raises(Exception, match="(?i)exceeds the maximum file size|too large|413"):
        client.predict(handle_file(str(big)), "Describe this image.", "", 16, "", api_name="/caption")


def test_visitors_cannot_turn_on_remote_code_or_change_the_engine_everyone_shares():
    from genai_ui.access import identify
    from genai_ui.errors import NotAllowed

    for public in (Settings(share=True), Settings(host="0.0.0.0"), Settings(space_id="a/b"), Settings(shared=True)):
        visitor = identify(public, client_host="127.0.0.1")
        with pytest.raises(NotAllowed, match="--allow-remote-code"):
            check_remote_code(public, visitor, True)
        check_remote_code(public, visitor, False)
        with pytest.raises(NotAllowed, match="set by this shared deployment's operator.*--allow-engine-options"):
            check_engine_options(public, visitor)
    allowing = Settings(share=True, allow_remote_code=True, allow_engine_options=True)
    check_remote_code(allowing, identify(allowing, client_host="127.0.0.1"), True)
    check_engine_options(allowing, identify(allowing, client_host="127.0.0.1"))
    me = identify(Settings(), client_host="127.0.0.1")  # the machine's own user decides for themself
    check_remote_code(Settings(), me, True)
    check_engine_options(Settings(), me)
    assert Settings.from_args([], env={"GENAI_UI_ALLOW_ENGINE_OPTIONS": "1"}).allow_engine_options


def test_remote_code_and_engine_options_are_refused_over_the_api_of_a_shared_app(tmp_path, gguf, local_hub):
    from genai_ui.services import create_services
    from tests.apps import launched

    services = create_services(Settings(home=tmp_path, host="0.0.0.0", hub_endpoint=local_hub.endpoint))
    with launched(services) as url:
        client = Client(url, verbose=False)
        with pytest.raises(AppError, match="trust_remote_code\\) is off on this shared deployment"):
            client.predict("tiny-random/llava", "int4", 0, 1.0, False, False, False, "", True, api_name="/convert_model")
        assert not any(e.id != "SmolLM2-135M-Instruct-Q4_1" for e in services.library.list())
        with pytest.raises(AppError, match="engine options are set by this shared deployment's operator"):
            client.predict("", "", "", 5, False, "u8", api_name="/set_engine_options")
        assert client.predict("", api_name="/engine_options")["kv_cache_precision"] == ""  # read, not changed
        assert services.pipelines.current("text-generation") is None  # nothing was loaded


def test_token_redaction_catches_tokens_in_any_log_record():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactTokens())
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    try:
        logger.warning("GET %s failed", "https://hub/api/whoami?token=hf_abcdefghijklmnop")
        logger.warning("Authorization: Bearer hf_oauth_ZYXWVUTSRQ123")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "hf_abcdefghijklmnop" not in text and "ZYXWVUTSRQ123" not in text and text.count("hf_***") == 2


def test_a_full_line_is_busy_not_a_wait_without_end(services, client):
    """With the conversion slot taken and the line full, the next conversion is refused at once."""
    queue = services.conversions.line
    taken, release, threads = threading.Event(), threading.Event(), []

    def occupy(first: bool):
        with queue.place(threading.Event()) as ticket:
            for _ in ticket.turn():
                pass
            if first:
                taken.set()
            release.wait(60)

    threads.append(threading.Thread(target=occupy, args=(True,)))
    threads[0].start()
    assert taken.wait(10)
    for _ in range(queue.max_waiting):
        threads.append(threading.Thread(target=occupy, args=(False,)))
        threads[-1].start()
    try:
        while queue.waiting() < queue.max_waiting:
            threading.Event().wait(0.05)
        with pytest.raises(AppError, match="The server is busy: 1 conversion running and 4 waiting"):
            client.predict("SmolLM2-135M-Instruct-Q4_1", api_name="/compress_model")
    finally:
        release.set()
        [t.join(10) for t in threads]
    assert queue.waiting() == 0


TRAVERSALS = ["../../etc/passwd", "/etc/passwd", "..", "models/../../x", "a/../../b"]


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_model_ids_that_climb_out_are_refused(client, bad):
    """Every endpoint that takes a model or repo id refuses one that names a path, with a message."""
    calls = {
        "/chat": lambda: client.predict("Hello", [], bad, "", 8, 0.0, api_name="/chat"),
        "/generate_image": lambda: client.predict("a cat", "", bad, api_name="/generate_image"),
        "/compress_model": lambda: client.predict(bad, api_name="/compress_model"),
        "/model_details": lambda: client.predict(bad, api_name="/model_details"),
        "/download_model": lambda: client.predict(bad, api_name="/download_model"),
        "/convert_model": lambda: client.predict(bad, api_name="/convert_model"),
        "/find_best_compression": lambda: client.predict(bad, api_name="/find_best_compression"),
        "/evaluate_model": lambda: client.predict(bad, api_name="/evaluate_model"),
        "/benchmark": lambda: client.predict(bad, api_name="/benchmark"),
    }
    hub_ids = {"/model_details", "/download_model", "/convert_model", "/find_best_compression"}
    for name, call in calls.items():
        with pytest.raises(AppError) as refused:
            call()
        message = str(refused.value)
        assert "Something went wrong" not in message and "Traceback" not in message, (name, message)
        assert any(word in message for word in ("not a valid", "not in the library", "No ", "not a model id",
                                                "Hub repo", "repo id")), (name, message)
        # refused for what the id is, before anything looks for it
        expected = "is not a Hub repo id" if name in hub_ids else "is not a valid local model id"
        assert f"'{bad}' {expected}" in message, (name, message)


def test_a_download_revision_cannot_climb_out(client):
    with pytest.raises(AppError) as refused:
        client.predict("HuggingFaceTB/SmolLM2-135M-Instruct", "../../../etc", api_name="/download_model")
    assert "Something went wrong" not in str(refused.value)


@pytest.mark.parametrize("target", ["/etc/passwd", "app.py", "{root}/app.py", "{library}/genai_ui.json",
                                    "{library}/SmolLM2-135M-Instruct.Q4_1.gguf", "../../../../etc/passwd"])
def test_the_server_serves_no_file_of_its_own(app_url, services, target):
    """Only what a session uploaded or the app wrote for it: not the code, the library, or the system."""
    library = services.library.get("SmolLM2-135M-Instruct-Q4_1").location
    path = target.format(root=ROOT, library=library)
    for url in (f"{app_url}gradio_api/file={path}", f"{app_url}file={path}"):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            assert err.code in (403, 404, 405), (url, err.code)
            continue
        assert b"root:" not in body and b"genai_ui" not in body[:2000] and b"GGUF" not in body[:4], url


def _signed_in_cookie(secret: str) -> str:
    """The session cookie a Space's Hugging Face sign-in leaves (Gradio's OAuth, signed with the
    Space's OAuth secret, which this test's fake Space knows)."""
    import base64
    import hashlib
    import json
    import time

    from itsdangerous import TimestampSigner

    info = {"oauth_info": {"access_token": "hf_oauth_visitor_token_1234", "scope": "openid profile",
                           "expires_at": int(time.time()) + 3600,
                           "userinfo": {"sub": "1", "name": "Visitor", "preferred_username": "visitor",
                                        "picture": "", "profile": "", "website": "", "aud": "test-client",
                                        "eat": 0, "iss": "", "iat": 0, "exp": 0}}}
    signer = TimestampSigner(hashlib.sha256((secret + "-v4").encode()).hexdigest())
    return signer.sign(base64.b64encode(json.dumps(info).encode())).decode()


def test_the_convert_tab_asks_for_a_sign_in_and_takes_one(space_app, browser):
    """On a Space the Convert tab refuses a visitor who has not signed in, and goes on for one who has."""
    url, _ = space_app
    pages = {}
    for who in ("anonymous", "signed in"):
        context = browser.new_context()
        if who == "signed in":
            context.add_cookies([{"name": "session", "value": _signed_in_cookie("test-secret"), "url": url}])
        page = context.new_page()
        page.goto(url)
        page.locator("input[type=text]").fill(LOGIN[0])  # the --auth login page first
        page.locator("input[type=password]").fill(LOGIN[1])
        page.get_by_role("button", name="Login").click()
        page.get_by_role("tab", name="Convert").click()
        page.locator("#convert-repo textarea").fill("tiny-random/t5")  # unsupported: stops at its check
        page.click("#convert-start")
        pages[who] = page
    try:
        pages["anonymous"].locator("#convert-status").get_by_text(
            "Sign in with Hugging Face (the button at the top of the Convert tab) to convert on this Space"
        ).wait_for(timeout=30_000)
        signed = pages["signed in"].locator("#convert-status")
        signed.locator(".gu-error").wait_for(timeout=60_000)
        assert "Sign in" not in signed.inner_text() and "t5" in signed.inner_text()
        # the engine options everyone shares: shown, not changed by a visitor
        page = pages["anonymous"]
        page.get_by_role("tab", name="Chat").click()
        page.click("text=Advanced: engine")
        assert page.locator("#engine-apply").is_disabled()
        assert "--allow-engine-options" in page.inner_text("#engine-operator")
    finally:
        for page in pages.values():
            page.context.close()


def test_a_malformed_login_stops_the_app_with_a_message_that_shows_no_password():
    for value in ("ada", "ada:", "ada:secret-one,grace"):
        result = subprocess.run([sys.executable, "app.py", "--auth", value], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode != 0
        assert "--auth takes user:password" in result.stderr and "secret-one" not in result.stderr
