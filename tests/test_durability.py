"""What survives a crash: manifests and engine options written whole, an unreadable options file kept
aside, the leftovers of killed jobs swept at start-up, and a download refused before it fills the disk."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from pathlib import Path

import psutil
import pytest
from gradio_client import Client

from genai_ui import atomic
from genai_ui.bench.common import launch_app, stop
from genai_ui.builtin import BUILTIN_ID
from genai_ui.engines.options import EngineOptions, EngineOptionsStore
from genai_ui.errors import NotAvailable
from genai_ui.hub.client import HubService
from genai_ui.hub.downloads import download_model
from genai_ui.library import MANIFEST, Library, ModelEntry

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own

GGUF_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
GGUF_BYTES = 98362432  # its one Q4_1 file


def tiny_entry(model_id: str = "tiny") -> ModelEntry:
    return ModelEntry(id=model_id, task="text-generation", format="openvino", weight_format="int4", location="")


def install_tiny(library: Library, model_id: str = "tiny") -> ModelEntry:
    with library.staging() as staged:
        (staged / "openvino_model.xml").write_text("<net/>")
        return library.install(staged, tiny_entry(model_id))


def test_a_manifest_never_writes_through_a_hard_link_into_the_cache(library, tmp_path):
    """A repo that ships its own genai_ui.json: the download links it from the Hugging Face cache's blob."""
    blob = tmp_path / "hf-blob"
    blob.write_text('{"the repo": "its own file"}')
    with library.staging() as staged:
        (staged / "openvino_model.xml").write_text("<net/>")
        os.link(blob, staged / MANIFEST)
        entry = library.install(staged, tiny_entry())
    assert blob.read_text() == '{"the repo": "its own file"}' and blob.stat().st_nlink == 1
    assert json.loads((library.models_dir / "tiny" / MANIFEST).read_text())["id"] == "tiny"
    assert library.get("tiny") == entry
    assert sorted(os.listdir(library.models_dir / "tiny")) == [MANIFEST, "openvino_model.xml"]  # no partial file


def test_a_write_that_fails_midway_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "engine_options.json"
    path.write_text('{"old": {}}')

    def disk_gone(*_):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", disk_gone)  # the fault: the crash comes before the rename
    with pytest.raises(OSError, match="Input/output error"):
        atomic.write_text(path, '{"new": {}}')
    assert path.read_text() == '{"old": {}}' and os.listdir(tmp_path) == ["engine_options.json"]


def test_engine_options_are_written_whole_and_read_back(tmp_path):
    path = tmp_path / "engine_options.json"
    EngineOptionsStore(path).set("m", EngineOptions(kv_cache_precision="u8"))
    store = EngineOptionsStore(path)
    assert store.get("m") == EngineOptions(kv_cache_precision="u8") and store.notice == ""
    assert os.listdir(tmp_path) == ["engine_options.json"]


@pytest.mark.parametrize("text", ['{"m": {"engine": "batching"', "[1, 2]", '{"m": "fast"}', '{"m": {"engine": "warp"}}',
                                  '{"m": {"kv_cache_precision": "u8"}, "n": {"colour": "blue"}}'],
                         ids=["bad-json", "a-list", "not-a-dict", "bad-value", "one-bad-entry"])
def test_unreadable_engine_options_are_moved_aside_not_overwritten(tmp_path, caplog, text):
    path = tmp_path / "engine_options.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="genai_ui.engines.options"):
        store = EngineOptionsStore(path)
    (aside,) = tmp_path.glob("engine_options.json.unreadable-*")
    assert aside.read_text() == text and not path.exists()
    assert store.get("m") == EngineOptions()  # starts empty, even from a file with good entries
    assert str(aside) in store.notice and "default options" in store.notice
    assert any(str(aside) in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    store.set("m", EngineOptions(engine="stateful"))
    assert aside.read_text() == text
    assert EngineOptionsStore(path).get("m") == EngineOptions(engine="stateful")


def test_the_chat_tabs_engine_panel_says_the_options_were_set_aside(tmp_path, gguf):
    import gradio as gr

    from genai_ui.services import create_services
    from genai_ui.settings import Settings
    from genai_ui.ui.engine_panel import build_engine_panel

    (tmp_path / "engine_options.json").write_text("{bad")
    services = create_services(Settings(home=tmp_path))
    with gr.Blocks():
        panel = build_engine_panel(services, gr.Dropdown(), gr.Dropdown())
    status = panel.show(None, None, None, None, None)[panel.status]
    (aside,) = tmp_path.glob("engine_options.json.unreadable-*")
    assert status.startswith("⚠ The engine options in") and str(aside) in status and "Remembered for" in status


def test_two_unreadable_files_in_one_second_are_both_kept(tmp_path):
    path = tmp_path / "engine_options.json"
    for text in ("{bad", "{worse"):
        path.write_text(text)
        EngineOptionsStore(path)
    assert sorted(p.read_text() for p in tmp_path.glob("engine_options.json.unreadable-*")) == ["{bad", "{worse"]


def test_the_sweep_removes_what_crashed_jobs_left_and_nothing_else(library, caplog):
    install_tiny(library)
    staging = library.models_dir / ".staging-k1ll3d"
    (staging / "model").mkdir(parents=True)
    (staging / "model" / "openvino_model.bin").write_bytes(b"half")
    deleting = library.models_dir / ".deleting-gone"
    deleting.mkdir()
    (deleting / MANIFEST).write_text(json.dumps({"id": "gone", "task": "text-generation", "format": "openvino",
                                                 "weight_format": "int4", "location": ""}))
    with caplog.at_level(logging.WARNING, logger="genai_ui.library"):
        removed = library.sweep()
    assert sorted(removed) == [deleting, staging]
    assert os.listdir(library.models_dir) == ["tiny"] and [e.id for e in library.list()] == ["tiny"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert str(staging) in logged and str(deleting) in logged
    assert library.sweep() == []


def test_a_stale_deleting_folder_never_blocks_a_delete(library):
    stale = library.models_dir / ".deleting-tiny"  # what a crash left under the old fixed name
    stale.mkdir()
    (stale / "openvino_model.bin").write_bytes(b"an earlier tiny")
    install_tiny(library)
    library.delete("tiny")
    install_tiny(library)
    library.delete("tiny")
    assert library.list() == [] and os.listdir(library.models_dir) == [".deleting-tiny"]


def test_a_download_the_disk_cannot_hold_is_refused_before_fetching(local_hub, library, tmp_path, monkeypatch):
    real = shutil.disk_usage

    def full_disk(folder):  # the fault: the file's exact size free, short of its 10% margin
        return real(folder)._replace(free=GGUF_BYTES)

    monkeypatch.setattr(shutil, "disk_usage", full_disk)
    cache = tmp_path / "hf"
    with pytest.raises(NotAvailable, match=r"Not enough free disk: this needs about 0\.1 GB and 0\.1 GB are free"):
        download_model(hub=HubService(endpoint=local_hub.endpoint), library=library, repo_id=GGUF_REPO,
                       cache_dir=cache)
    assert library.list() == [] and os.listdir(library.models_dir) == []
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]  # nothing was fetched


# --- the app killed with SIGKILL, then started again on the same home


def kill_hard(process) -> None:
    """SIGKILL for the app and everything it started: its conversion worker runs in a process group of
    its own, which a kill of the app alone would leave running."""
    family = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    for child in family:
        try:
            os.killpg(child.pid, signal.SIGKILL) if os.getpgid(child.pid) == child.pid else child.kill()
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    psutil.wait_procs(family, timeout=10)


def wait_for(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def converting(process, models: Path):
    """The staging folder of a conversion whose worker is running, once there is one."""
    staged = sorted(models.glob(".staging-*"))
    try:
        workers = [p for p in psutil.Process(process.pid).children(recursive=True)
                   if "genai_ui.convert.worker" in " ".join(p.cmdline())]
    except psutil.NoSuchProcess:  # a short-lived child ended while being read: look again
        return None
    return staged if staged and workers else None


def test_a_kill_mid_conversion_leaves_a_clean_library_after_a_restart(tmp_path, local_hub):
    home, models = tmp_path / "home", tmp_path / "home" / "models"
    env = {**os.environ, "HF_ENDPOINT": local_hub.endpoint}
    with open(tmp_path / "first.log", "w") as log:
        process, url, _ = launch_app(str(home), env=env, log=log)
    try:
        client = Client(url, verbose=False)
        job = client.submit("tiny-random/llava", "int4", api_name="/convert_model")
        staged = wait_for(lambda: converting(process, models), "a conversion at work")
    finally:
        kill_hard(process)
    client.close()
    assert not job.done() or job.exception() is not None  # it was killed, not finished
    assert all(folder.is_dir() for folder in staged)  # what the crash left behind
    # what a crash between a delete's rename and its rmtree leaves, and a download's half-linked files
    deleting = models / ".deleting-llava-int4"
    shutil.copytree(models / BUILTIN_ID, deleting)
    manifest = json.loads((deleting / MANIFEST).read_text())
    (deleting / MANIFEST).write_text(json.dumps({**manifest, "id": "llava-int4"}))
    download = models / ".staging-download"
    download.mkdir()
    (download / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF" + bytes(4096))

    log_path = tmp_path / "second.log"
    with open(log_path, "w") as log:
        process, url, _ = launch_app(str(home), env=env, log=log)
    try:
        assert sorted(os.listdir(models)) == [BUILTIN_ID]
        client = Client(url, verbose=False)
        assert [m["id"] for m in client.predict(api_name="/local_models")] == [BUILTIN_ID]
        # the same repo again, in fp16: no compression step (30 s here, against 55 s for int4)
        report = client.predict("tiny-random/llava", "fp16", api_name="/convert_model")
        assert report["id"] == "llava-fp16" and report["task"] == "image-text-to-text"
        assert sorted(m["id"] for m in client.predict(api_name="/local_models")) == sorted([BUILTIN_ID, "llava-fp16"])
        assert sorted(os.listdir(models)) == sorted([BUILTIN_ID, "llava-fp16"])
        client.close()
    finally:
        stop(process)
    logged = log_path.read_text()
    for folder in [*staged, deleting, download]:
        assert f"Removed {folder}" in logged


def test_uploads_leave_gradios_cache_once_they_are_older_than_the_limit(tmp_path, gguf):
    """--cache-hours, here two seconds: a visitor's upload is gone from the server soon after."""
    import httpx

    from genai_ui.services import create_services
    from genai_ui.settings import Settings
    from tests.apps import launched

    settings = Settings(home=tmp_path / "home", cache_hours=2 / 3600)
    assert settings.delete_cache == (2, 2) and Settings(home=tmp_path).delete_cache == (3600, 86400)
    with launched(create_services(settings)) as url:
        uploaded = httpx.post(f"{url}gradio_api/upload",
                              files={"files": ("notes.txt", b"a visitor's file")}, timeout=30)
        uploaded.raise_for_status()
        (path,) = uploaded.json()
        assert Path(path).read_bytes() == b"a visitor's file"
        deadline = time.monotonic() + 30
        while Path(path).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not Path(path).exists(), "the upload is still in Gradio's cache"
