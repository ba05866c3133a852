"""Who asks and what they may do (access.py), and the bounds on one caller's work: the rules alone,
without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from genai_ui.access import (LOCAL, Caller, check_delete, check_engine_options, check_remote_code, check_signed_in,
                             identify)
from genai_ui.engines.llm import PromptTooLong, fit_context
from genai_ui.errors import InvalidParameter, NotAllowed, SignInRequired
from genai_ui.run.image import ImageParams
from genai_ui.settings import Settings

LOCAL_APP = Settings(hf_token="hf_operator_token_123")
SPACE = Settings(space_id="ada/genai-ui", space_author="ada", hf_token="hf_operator_token_123")


def test_this_machines_own_user_is_the_operator_and_gets_the_operator_token():
    caller = identify(LOCAL_APP, client_host="127.0.0.1", headers={"user-agent": "x"})
    assert not caller.shared and caller.operator and caller.hub_token == "hf_operator_token_123"
    assert identify(LOCAL_APP, client_host="::1").operator
    # the session's own token wins over the operator's
    assert identify(LOCAL_APP, client_host="127.0.0.1", session_token="hf_mine_456").hub_token == "hf_mine_456"


@pytest.mark.parametrize("host, headers", [
    ("10.0.0.7", {}),  # another machine
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}),  # a proxy on this machine
    ("127.0.0.1", {"forwarded": "for=203.0.113.9"}),
    ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}),
    (None, {}),  # no address at all: fails closed
])
def test_a_request_from_elsewhere_is_shared_even_on_a_local_app(host, headers):
    caller = identify(LOCAL_APP, client_host=host, headers=headers)
    assert caller.shared and not caller.operator
    assert caller.hub_token == ""  # the operator's HF_TOKEN is never lent to it
    with pytest.raises(NotAllowed, match="--allow-remote-code"):
        check_remote_code(LOCAL_APP, caller, True)
    with pytest.raises(NotAllowed, match="--allow-engine-options"):
        check_engine_options(LOCAL_APP, caller)


@pytest.mark.parametrize("settings", [Settings(shared=True), Settings(share=True), Settings(host="0.0.0.0"), SPACE])
def test_every_request_of_a_shared_app_is_shared_loopback_included(settings):
    caller = identify(settings, client_host="127.0.0.1")
    assert caller.shared and not caller.operator and caller.hub_token == ""
    assert Settings.from_args(["--shared"], env={}).shared
    assert Settings.from_args([], env={"GENAI_UI_SHARED": "1"}).public


def test_on_a_space_its_owner_is_an_operator_and_a_sign_in_is_needed_to_convert():
    owner = identify(SPACE, client_host="10.0.0.2", hub_user="ada", hub_token="hf_oauth_ada_token")
    visitor = identify(SPACE, client_host="10.0.0.3", hub_user="bob", hub_token="hf_oauth_bob_token")
    anonymous = identify(SPACE, client_host="10.0.0.4", session="s1")
    assert owner.operator and not visitor.operator and not anonymous.operator
    assert owner.hub_token == "hf_oauth_ada_token" and visitor.hub_token == "hf_oauth_bob_token"
    assert anonymous.hub_token == ""  # not the operator's
    check_signed_in(SPACE, visitor, "convert")
    with pytest.raises(SignInRequired, match="Sign in with Hugging Face"):
        check_signed_in(SPACE, anonymous, "convert")
    # a visitor who signed in still may not run a repo's code or change the shared engine
    with pytest.raises(NotAllowed):
        check_remote_code(SPACE, visitor, True)
    check_remote_code(SPACE, owner, True)
    check_engine_options(SPACE, owner)
    check_remote_code(Settings(space_id="a/b", allow_remote_code=True), anonymous, True)
    # --operators names more of them, Hugging Face accounts or --auth users
    team = Settings(shared=True, operators="grace, linus")
    assert identify(team, client_host="10.0.0.5", login="grace").operator
    assert identify(team, client_host="10.0.0.5", hub_user="linus").operator
    assert not identify(team, client_host="10.0.0.5", login="ada").operator
    assert not identify(Settings(shared=True, operators=""), client_host="10.0.0.5").operator


def test_the_owner_recorded_is_the_person_or_else_the_session():
    assert identify(SPACE, client_host="10.0.0.2", hub_user="bob").owner == "hf:bob"
    assert identify(Settings(shared=True), client_host="10.0.0.2", login="grace").owner == "login:grace"
    assert identify(Settings(shared=True), client_host="10.0.0.2", session="abc").owner == "session:abc"
    assert identify(Settings(shared=True), client_host="10.0.0.2").owner == ""  # nobody: only the operator deletes it
    assert LOCAL.owner == "local"


def test_who_may_delete_what():
    bob = Caller(shared=True, operator=False, hub_user="bob")
    eve = Caller(shared=True, operator=False, session="eve-session")
    operator = Caller(shared=True, operator=True, hub_user="ada")
    check_delete(bob, "bobs-model", "hf:bob", builtin=False)
    check_delete(operator, "bobs-model", "hf:bob", builtin=False)
    check_delete(LOCAL, "bobs-model", "hf:bob", builtin=False)
    for caller, owner in ((eve, "hf:bob"), (bob, ""), (eve, ""), (eve, "session:other")):
        with pytest.raises(NotAllowed, match="added by someone else.*its operator can delete any"):
            check_delete(caller, "bobs-model", owner, builtin=False)
    for caller in (bob, operator, LOCAL):
        with pytest.raises(NotAllowed, match="built-in model: it cannot be deleted"):
            check_delete(caller, "SmolLM2", "local", builtin=True)


class CountingTokenizer:
    """A word counter standing in for a tokenizer: it counts what it is asked to read, so the test can
    tell how much work fitting a history takes."""

    def __init__(self) -> None:
        self.words_read = 0

    def count(self, messages: list[dict]) -> int:
        words = sum(len(m["content"].split()) + 4 for m in messages)
        self.words_read += words
        return words + 3

    def measure(self, message: dict) -> int:
        self.words_read += len(message["content"].split())
        return len(message["content"].split())


def test_fitting_a_long_history_reads_each_message_once_at_most():
    """2,000 messages of 500 words: the work is bounded by what fits the context, not by the history."""
    history = [{"role": ("user", "assistant")[i % 2], "content": "word " * 500} for i in range(2000)]
    messages = history + [{"role": "user", "content": "And now?"}]
    tokens = CountingTokenizer()
    kept, dropped, max_new = fit_context(tokens.count, messages, 512, 8192, tokens.measure)
    assert kept[-1]["content"] == "And now?" and kept[0]["role"] == "user"
    assert dropped == len(messages) - len(kept) and dropped > 1900
    # what was read: the kept messages about twice, and the first one that did not fit (the whole
    # history is a million words)
    assert tokens.words_read < 4 * 8192, tokens.words_read
    assert tokens.count(kept) + max_new <= 8192 and max_new == 512


def test_fitting_keeps_the_system_prompt_and_trims_further_when_the_estimate_falls_short():
    system = {"role": "system", "content": "Be brief."}
    turns = [{"role": ("user", "assistant")[i % 2], "content": "word " * 100} for i in range(40)]
    messages = [system, *turns, {"role": "user", "content": "Last?"}]

    def count(kept):  # a template that costs 30 tokens a message: far more than the estimate allows
        return sum(len(m["content"].split()) + 30 for m in kept)

    def measure(message):
        return len(message["content"].split())

    kept, dropped, max_new = fit_context(count, messages, 256, 2048, measure)
    assert kept[0] == system and kept[1]["role"] == "user" and kept[-1]["content"] == "Last?"
    assert count(kept) + max_new <= 2048 and max_new == 256
    assert dropped == len(messages) - len(kept)
    assert count([system, *turns[dropped - 2:], messages[-1]]) + 256 > 2048  # it kept as much as fits
    with pytest.raises(PromptTooLong, match="reads at most 2048"):
        fit_context(count, [system, {"role": "user", "content": "word " * 3000}], 16, 2048, measure)


def test_one_callers_work_is_bounded(services):
    chat = services.chat
    with pytest.raises(InvalidParameter, match="2,000 messages; the limit is 1,000. Clear it"):
        chat.reply(message="Hi", history=[{"role": "user", "content": "x"}] * 2000)
    with pytest.raises(InvalidParameter, match="the limit is 1,000,000. Clear it"):
        chat.reply(message="Hi", history=[{"role": "user", "content": "x" * 90_000}] * 12)
    with pytest.raises(InvalidParameter, match="system prompt is 20,001 characters; the limit is 20,000"):
        chat.reply(message="Hi", system_prompt="x" * 20_001)
    with pytest.raises(InvalidParameter, match="2048×2048×8×150 = 5,033 million; the limit is 105 million"):
        ImageParams(prompt="a cat", width=2048, height=2048, num_images=8, steps=150)
    ImageParams(prompt="a cat", width=1024, height=1024, num_images=2, steps=50)
    with pytest.raises(InvalidParameter, match="max_new_tokens × runs is 4,096 × 20 = 81,920 tokens; the limit is"):
        services.benchmark.run(max_new_tokens=4096, runs=20)


REDACTION = r'''
import logging, os, sys, traceback
os.environ["GENAI_UI_API_KEY"] = "sk-operator-secret-42"
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
from genai_ui.access import redact_logs
redact_logs()
import uvicorn
uvicorn.Config(app=None, log_level="info").configure_logging()  # uvicorn's own handlers, made after
logging.getLogger("uvicorn.error").info("started with hf_uvicorn_token_1234")
logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /?token=hf_access_token_5678 HTTP/1.1" 200')
try:
    raise RuntimeError("refused hf_exception_token_9012 and sk-operator-secret-42")
except RuntimeError:
    logging.getLogger("genai_ui").exception("failed")
    traceback.print_exc()
print("printed hf_printed_token_3456", flush=True)
'''


def test_tokens_and_secrets_are_blanked_in_logs_uvicorns_lines_and_tracebacks(tmp_path):
    """In a process set up as app.py sets itself up: our log, uvicorn's (whose handlers come later), a
    logged traceback, one Gradio would print, and print() itself."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", REDACTION], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).parent.parent))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    for shown in ("started with", "GET /?token=", "refused", "Traceback", "printed"):
        assert shown in out, (shown, out)
    assert out.count("RuntimeError: refused") == 2, out  # logged, and printed
    for secret in ("hf_uvicorn_token_1234", "hf_access_token_5678", "hf_exception_token_9012",
                   "hf_printed_token_3456", "sk-operator-secret-42"):
        assert secret not in out, (secret, out)
