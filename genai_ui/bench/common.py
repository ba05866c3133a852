"""What the benches share: a free port, the app started in a subprocess, paired medians, the machine."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP_PY = Path(__file__).resolve().parent.parent.parent / "app.py"


def paired(app: list, raw: list, measure) -> float:
    """The median of a measure over interleaved (app, raw) pairs: a drift of the machine cancels out
    within a pair."""
    return statistics.median(measure(a, r) for a, r in zip(app, raw))


def install(home: Path, model_dir: Path, model_id: str, task: str, weight_format: str = "int8") -> None:
    """An OpenVINO model folder into the library of the app home `home`, hard-linked where the file
    system allows (the files are never written)."""
    from ..library import Library, ModelEntry, context_length_of

    library = Library(home / "models")
    with library.staging() as staged:
        shutil.copytree(model_dir, staged, dirs_exist_ok=True, copy_function=_link_or_copy)
        (staged / "genai_ui.json").unlink(missing_ok=True)
        config_file = staged / "config.json"
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        library.install(staged, ModelEntry(id=model_id, task=task, format="openvino", weight_format=weight_format,
                                           location="", context_length=context_length_of(config)))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the app did not answer in time")


def tree_rss(pid: int) -> int:
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


def launch_app(home: str, env: dict | None = None, log=subprocess.DEVNULL,
               args: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str, float]:
    """Start app.py on `home` (with more flags in `args`); return the process, its URL and seconds
    until the page answered. No tune starts in the background: it would take the cores from what is measured
    (a bench that wants the tuned options tunes first, in the home)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, str(APP_PY), "--port", str(port), "--home", home, "--no-auto-tune",
                               *args],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_page(url, server)
    except BaseException:
        server.terminate()
        raise
    return server, url, time.perf_counter() - started


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(10)


def machine() -> dict:
    """What a figure was measured on: the processor (named as the Device picker names it), its cores and
    memory, the engine's version, the day."""
    import openvino

    from ..engines.devices import Devices

    cpu = Devices().processor().rsplit(", ", 1)[0]  # the cores have a field of their own
    try:
        import psutil
        memory_gb = round(psutil.virtual_memory().total / 2**30)
    except ImportError:
        memory_gb = None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb, "openvino": openvino.get_version(),
            "date": time.strftime("%Y-%m-%d")}


def save_result(output: Path, name: str, result: dict) -> Path:
    """A bench's figures into `output/name.json`, with the machine they were measured on
    (`python -m genai_ui.bench report` makes docs/speed.md from these files)."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"{name}.json"
    path.write_text(json.dumps({**result, "machine": machine()}, indent=1))
    return path


def sse_call(http, base_url: str, api_name: str, data: list) -> tuple[float | None, float | None, str]:
    """Call an endpoint over Gradio's plain HTTP API and read its server-sent events, as a browser or
    curl would: (time of the first update, time of the last, the last text)."""
    import json

    event_id = http.post(f"{base_url}gradio_api/call/{api_name}", json={"data": data}).json()["event_id"]
    first = last = None
    text = ""
    with http.stream("GET", f"{base_url}gradio_api/call/{api_name}/{event_id}") as events:
        for line in events.iter_lines():
            if line.startswith("data:") and line[5:].strip().startswith("["):
                now = time.perf_counter()
                first, last = first or now, now
                text = json.loads(line[5:])[0]
    return first, last, text
