"""The Dockerfile, checked where there is no Docker engine: its facts read from the file, its steps
replayed (tests/dockerfile_replay.py) in a fresh virtualenv under test-output/dockerfile/ from the
folder space/assemble.sh makes (what a Space builds from), and its CMD started from the replayed
WORKDIR and asked a question. The one rewrite: the PyTorch CPU wheel index cannot be reached here,
so pip takes CPU torch from this machine's own sources."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genai_ui.bench import free_port, wait_for_page
from genai_ui.builtin import BUILTIN_ID
from tests.dockerfile_replay import ReplayError, facts, parse, pip_installs, read, replay, size_on_disk

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-output" / "dockerfile"
IMAGE_GB = 3.0  # the image's target, of which the base image is about 0.15 GB
VENV_GB = 2.8  # the installed packages' share of it
REPLAY_SECONDS = 1500  # measured: 2.3 to 3.9 minutes on 2 cores, from this machine's package indexes


def test_the_dockerfile_says_what_a_space_needs():
    said = facts(read(ROOT / "Dockerfile"))
    assert said.base.startswith(f"python:{sys.version_info.major}.{sys.version_info.minor}-"), \
        "the replay's Python must be the image's"
    assert said.users.get(said.user) and said.users[said.user].uid == 1000, "Spaces run the app as uid 1000"
    assert said.workdir.startswith(said.users[said.user].home + "/")
    assert "7860" in said.exposed
    assert said.env["GRADIO_SERVER_NAME"] == "0.0.0.0" and said.env["GRADIO_SERVER_PORT"] == "7860"
    assert "GENAI_UI_HOME" not in said.env, "settings.py would then ignore a Space's persistent /data"
    assert said.cmd == ["python", "app.py"]


def test_it_installs_what_the_makefile_installs_in_the_same_order():
    makefile = [shlex.split(line.split("$(PIP) install", 1)[1]) for line in (ROOT / "Makefile").read_text().splitlines()
                if line.startswith("\t$(PIP) install") and "requirements-test" not in line]
    made = [[w for w in args[:next((i for i, w in enumerate(args) if w.startswith("$(")), len(args))]]
            for args in makefile]
    assert pip_installs(read(ROOT / "Dockerfile")) == made


def test_the_parser_reads_docker_syntax():
    text = ("# comment\nFROM python:3.11-slim\nENV A=1 \\\n    B=\"two words\"\nENV C $A-x\n"
            "RUN echo one \\\n# a comment inside the continued line\n && echo two\n"
            "WORKDIR /app\nCMD [\"python\", \"app.py\"]\n")
    instructions = parse(text)
    assert [(i.keyword, i.line) for i in instructions] == [("FROM", 2), ("ENV", 3), ("ENV", 5), ("RUN", 6),
                                                          ("WORKDIR", 9), ("CMD", 10)]
    assert instructions[3].value == "echo one  && echo two"
    assert facts(instructions).env == {"A": "1", "B": "two words", "C": "1-x"}
    assert instructions[-1].words() == ["python", "app.py"]


def test_a_broken_dockerfile_fails_with_the_line_and_pips_reason(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nWORKDIR /app\n"
                                         "RUN pip install this-package-does-not-exist-genai-ui==0.0.1\n")
    with pytest.raises(ReplayError) as failed:
        replay(read(tmp_path / "Dockerfile"), context=tmp_path, out=tmp_path / "out", log=lambda _: None)
    message = str(failed.value)
    assert message.startswith("line 3: `RUN pip install this-package-does-not-exist-genai-ui==0.0.1` failed")
    assert "No matching distribution found for this-package-does-not-exist-genai-ui==0.0.1" in message


def test_steps_that_would_change_this_machine_are_refused(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN apt-get install -y curl\n")
    with pytest.raises(ReplayError, match=r"^line 2: `RUN apt-get install -y curl` would change this machine"):
        replay(read(tmp_path / "Dockerfile"), context=tmp_path, out=tmp_path / "out", log=lambda _: None)


def assemble(target: Path) -> Path:
    target.mkdir(parents=True)
    subprocess.run([str(ROOT / "space" / "assemble.sh"), str(target)], check=True, capture_output=True)
    return target


def test_the_space_folder_has_its_card_and_what_the_dockerfile_copies(tmp_path):
    from huggingface_hub import SpaceCard

    space = assemble(tmp_path / "space")
    assert sorted(p.name for p in space.iterdir()) == [".dockerignore", "Dockerfile", "README.md", "app.py",
                                                     "genai_ui", "requirements.txt"]
    assert not list(space.rglob("__pycache__"))
    card = SpaceCard.load(space / "README.md").data
    assert card.sdk == "docker" and str(card.app_port) in facts(read(space / "Dockerfile")).exposed
    assert len(card.short_description) < 60 and card.hf_oauth and "write-repos" in card.hf_oauth_scopes


@pytest.fixture(scope="module")
def image():
    """The replayed image, built from the assembled Space folder; its report in test-output/dockerfile/replay.md."""
    shutil.rmtree(OUT, ignore_errors=True)
    space = assemble(OUT / "space")
    lines = []
    started = time.perf_counter()
    replayed = replay(read(space / "Dockerfile"), context=space, out=OUT, log=lambda s: (print(s), lines.append(s)))
    seconds = time.perf_counter() - started
    venv = size_on_disk(replayed.venv)
    home = replayed.home(replayed.facts.user, replayed.facts.env)
    library = sum(f.stat().st_size for f in (home / ".cache").rglob("*")
                  if f.is_file())  # in the image a copy, here a hard link into the virtualenv
    report = "\n".join([
        "# The Dockerfile replayed", "", "```", *lines, "```", "",
        f"Replay: {seconds / 60:.1f} minutes. Virtualenv: {venv / 1e9:.2f} GB (du). "
        f"Built-in library made at build time: {library / 1e6:.0f} MB. "
        f"Image estimate with the 0.15 GB base: {(venv + library) / 1e9 + 0.15:.2f} GB.", ""])
    (OUT / "replay.md").write_text(report)
    print(report)
    return replayed, venv, library


@pytest.mark.timeout(REPLAY_SECONDS)
def test_the_install_is_cpu_only_and_fits_the_image(image):
    replayed, venv, library = image
    python = str(replayed.venv / "bin" / "python")
    listed = json.loads(subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True,
                                       text=True, check=True).stdout)
    cuda = [p["name"] for p in listed if p["name"].lower().startswith("nvidia-") or "triton" in p["name"].lower()]
    assert not cuda, f"CUDA packages in the image: {cuda}"
    version, available = subprocess.run([python, "-c", "import torch; print(torch.__version__, torch.cuda.is_available())"],
                                        capture_output=True, text=True, check=True).stdout.split()
    assert version.endswith("+cpu") and available == "False", f"torch {version} is not the CPU build"
    assert venv < VENV_GB * 1e9, f"the virtualenv is {venv / 1e9:.2f} GB, over {VENV_GB} GB"
    assert venv + library + 0.15e9 < IMAGE_GB * 1e9


@pytest.mark.timeout(REPLAY_SECONDS)
def test_the_cmd_answers_a_chat_with_the_built_in_model(image):
    from gradio_client import Client

    replayed, _, _ = image
    said = replayed.facts
    ir = replayed.home(said.user, said.env) / ".cache" / "genai_ui" / "models" / BUILTIN_ID / "openvino_model.xml"
    assert ir.is_file(), "the build should leave the built-in model ready, its IR saved"
    made_at = ir.stat().st_mtime_ns
    port = free_port()
    # no Hub here: the Dockerfile's ENV, on a free port, with the Hub off
    env = replayed.environment(said.user, {**said.env, "GRADIO_SERVER_PORT": str(port),
                                           "HF_ENDPOINT": "http://127.0.0.1:1", "HF_HUB_OFFLINE": "1"})
    command = [shutil.which(said.cmd[0], path=env["PATH"]), *said.cmd[1:]]
    with open(OUT / "app.log", "w") as log:  # a pipe nobody reads would fill up and stall the app
        app = subprocess.Popen(command, cwd=replayed.path(said.workdir), env=env, stdout=log,
                               stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_for_page(url, app, timeout=180)
            answer = Client(url, verbose=False).predict("What is the capital of France?", temperature=0.0,
                                                        max_new_tokens=32, api_name="/chat")
        finally:
            app.terminate()
            app.wait(10)
    assert "Paris" in answer, f"the built-in model answered {answer!r}; see {OUT / 'app.log'}"
    assert ir.stat().st_mtime_ns == made_at, "the first chat rebuilt the IR the build had saved"
