"""The services of long jobs. ConvertService holds the rule of who may convert, compress and publish: every
refusal comes at the call, before anything waits in line, whichever page or endpoint asks. DownloadService and
ConvertService both refuse a job when their line is full."""

from __future__ import annotations

import threading

import pytest

from genai_ui.access import identify
from genai_ui.convert.options import ExportOptions
from genai_ui.convert.service import ConvertService
from genai_ui.engines.devices import Devices
from genai_ui.errors import Busy, InvalidParameter, ModelNotFound, NotAllowed, SignInRequired
from genai_ui.hub.client import HubService
from genai_ui.hub.downloads import DownloadService
from genai_ui.library import Library, ModelEntry
from genai_ui.manage import ModelAccess
from genai_ui.settings import Settings
from genai_ui.work.queue import WorkQueue

DEAD_HUB = "http://127.0.0.1:9"  # nothing listens: a test that reached the Hub would fail on it
SPACE = Settings(space_id="ada/genai-ui", space_author="ada", hf_token="hf_operator_token_123")
SHARED = Settings(shared=True)


def service(settings: Settings, library: Library, max_waiting: int = 2) -> ConvertService:
    return ConvertService(settings, HubService(endpoint=DEAD_HUB), library, ModelAccess(library, DEAD_HUB),
                          Devices("CPU"), WorkQueue("conversion", max_waiting=max_waiting))


@pytest.fixture
def lib(tmp_path) -> Library:
    return Library(tmp_path / "models")


def add_gated(library: Library, tmp_path, model_id: str) -> None:
    folder = tmp_path / model_id
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"GGUF")
    library.install(folder, ModelEntry(id=model_id, task="text-generation", format="gguf", weight_format="Q4_1",
                                       location="", source={"repo_id": "org/secret", "gated": "auto"},
                                       model_file="model.gguf", owner="session:someone-else"))


def test_an_anonymous_visitor_of_a_space_is_refused_every_job_at_the_call(lib):
    convert = service(SPACE, lib)
    visitor = identify(SPACE, client_host="10.0.0.3", session="s1")
    for start in (lambda: convert.convert(caller=visitor, repo_id="org/model", options=ExportOptions(),
                                          cancel=threading.Event()),
                  lambda: convert.compress(caller=visitor, model="any", options=ExportOptions(),
                                           cancel=threading.Event()),
                  lambda: convert.from_library(caller=visitor, model="any", options=ExportOptions(),
                                               cancel=threading.Event()),
                  lambda: convert.publish(caller=visitor, model="any", repo_name="mine")):
        with pytest.raises(SignInRequired, match="Sign in with Hugging Face"):
            start()
    assert convert.line.waiting() == 0  # nothing was put in line


def test_remote_code_and_empty_sources_are_refused_before_the_line(lib):
    convert = service(SHARED, lib)
    visitor = identify(SHARED, client_host="127.0.0.1")
    with pytest.raises(NotAllowed, match="--allow-remote-code"):
        convert.convert(caller=visitor, repo_id="org/model", options=ExportOptions(trust_remote_code=True),
                        cancel=threading.Event())
    with pytest.raises(InvalidParameter, match="Type the Hub repo"):
        convert.convert(caller=visitor, repo_id="", options=ExportOptions(), cancel=threading.Event())
    with pytest.raises(InvalidParameter, match="'a--b/c' is not a Hub repo id: write it as owner/name"):
        convert.convert(caller=visitor, repo_id="a--b/c", options=ExportOptions(), cancel=threading.Event())
    with pytest.raises(InvalidParameter, match="Pick a model of the library"):
        convert.from_library(caller=visitor, model="", options=ExportOptions(), cancel=threading.Event())
    assert convert.line.waiting() == 0


def test_a_gated_model_someone_else_fetched_is_not_there_to_compress(lib, tmp_path):
    add_gated(lib, tmp_path, "secret-Q4_1")
    convert = service(SHARED, lib)
    visitor = identify(SHARED, client_host="127.0.0.1", session="s2")
    with pytest.raises(ModelNotFound, match="No model 'secret-Q4_1'"):
        convert.from_library(caller=visitor, model="secret-Q4_1", options=ExportOptions(), cancel=threading.Event())
    with pytest.raises(ModelNotFound):
        convert.publish(caller=visitor, model="secret-Q4_1", repo_name="stolen")


def test_a_full_line_refuses_the_next_job_when_it_starts(lib):
    convert = service(Settings(), lib, max_waiting=0)
    me = identify(Settings(), client_host="127.0.0.1")
    with convert.line.place(threading.Event()) as ticket:  # someone else's job holds the only slot
        for _ in ticket.turn():
            pass
        events = convert.convert(caller=me, repo_id="org/model", options=ExportOptions(), cancel=threading.Event())
        with pytest.raises(Busy, match="1 conversion running and 0 waiting"):
            next(events)


def test_a_full_download_line_refuses_the_next_download(lib):
    downloads = DownloadService(HubService(endpoint=DEAD_HUB), lib, WorkQueue("download", max_waiting=0))
    me = identify(Settings(), client_host="127.0.0.1")
    with downloads.line.place(threading.Event()) as ticket:
        for _ in ticket.turn():
            pass
        with pytest.raises(Busy, match="1 download running and 0 waiting"):
            next(downloads.download(caller=me, repo_id="org/model", cancel=threading.Event()))
