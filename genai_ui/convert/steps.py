"""The steps of a conversion job: each runs in a subprocess (optimum-cli, genai_ui.convert.worker,
genai_ui.convert.quality) with an environment that holds nothing secret. Its lines become the job's Log,
Progress and Stage events, and a failure ends the job with the step's own last words."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from ..access import SECRET_NAME
from ..errors import ConversionFailed
from ..hub.client import HubService
from ..work.background import Log, ProcessResult, Progress, Stage, Tracebacks, run_process

Report = TypeVar("Report")  # a job's report (jobs.ConversionReport), a dataclass with seconds and stages

PROJECT = Path(__file__).resolve().parents[2]  # where `python -m genai_ui.…` finds the package
# What a step's process inherits: an allowlist, since with trust_remote_code it runs a repo's own
# code. No token, no GENAI_UI_* setting (--auth passwords), no OAuth secret of a Space.
CHILD_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
             "HF_HOME", "HF_HUB_CACHE", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "SSL_CERT_FILE", "SSL_CERT_DIR", "SYSTEMROOT")


def child_env(hub: HubService) -> dict:
    """The environment of a step: the app's Hub endpoint, no Hub access (the files are local by then)
    and nothing secret (a step needs none, and none should reach a process that runs a repo's code)."""
    env = {k: v for k, v in os.environ.items()
           if (k in CHILD_ENV or k.startswith("LC_")) and not SECRET_NAME.search(k)}
    env.update({"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
                "HF_ENDPOINT": hub.endpoint, "COLUMNS": "100", "NO_COLOR": "1", "TQDM_MININTERVAL": "1",
                "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"})  # NNCF (rich) draws its progress bars for us
    return env


class Steps:
    """A job's steps, timed: `stage(name)` is the Stage event that starts a step's clock, and
    `stage.finish(report)` puts the total and each step's time in the report."""

    def __init__(self, names: list[str]) -> None:
        self.names, self.started, self.start = names, {}, time.monotonic()

    def skip(self, name: str) -> None:
        """A step the job turned out not to need."""
        self.names.remove(name)

    def __call__(self, name: str) -> Stage:
        self.started[name] = time.monotonic()
        return Stage(name, self.names.index(name) + 1, len(self.names))

    def finish(self, report: Report) -> Report:
        now = time.monotonic()
        marks = [*self.started.items(), ("end", now)]
        durations = {name: round(marks[i + 1][1] - t, 2) for i, (name, t) in enumerate(marks[:-1])}
        return replace(report, seconds=round(now - self.start, 2), stages=durations)


def run_step(cmd: list[str], what: str, cancel: threading.Event, env: dict, percent: bool = False, stage=None):
    """Run one subprocess step, passing its lines on as Log events (and NNCF's percentages as
    Progress, and the step's own stage marks as Stage events); returns its peak memory; a failure
    ends the job with the step's own last words."""
    from .worker import STAGE

    result, tracebacks = ProcessResult(), Tracebacks(what)
    for line in run_process(cmd, cancel=cancel, result=result, env=env, cwd=str(PROJECT)):
        line = _ANSI.sub("", line).rstrip()
        if not tracebacks.shown(line):
            continue
        if stage and line.startswith(STAGE):
            yield stage(line[len(STAGE):].strip())
            continue
        bar = _BAR.search(line) if percent else None
        if bar:  # a progress bar redrawn: the bar moves, the log keeps its last state only
            done = int(bar.group("pct"))
            yield Progress(done, 100, unit="%", label=bar.group("label").strip())
            if done < 100:
                continue
        yield Log(line)
    tracebacks.flush()
    if result.returncode != 0:
        raise ConversionFailed(f"{what} failed: {_reason(result.tail)}")
    return result.peak_rss_bytes


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def json_step(cmd: list[str], what: str, then: str, cancel, env):
    """A step whose last line is its result as JSON, and whose `genai_ui: progress DONE TOTAL WHAT` lines are
    its progress; returns (the result, its peak memory)."""
    from .quality import PROGRESS

    result, last, tracebacks = ProcessResult(), None, Tracebacks(what)
    for line in run_process(cmd, cancel=cancel, result=result, env=env, cwd=str(PROJECT)):
        if line.startswith("{"):
            last = line
        elif line.startswith(PROGRESS):
            done, total, label = (line[len(PROGRESS):].split(" ", 2) + [""])[:3]
            yield Progress(int(done), int(total), unit="steps", label=label)
        elif tracebacks.shown(line):
            yield Log(line)
    tracebacks.flush()
    if result.returncode != 0 or last is None:
        raise ConversionFailed(f"{what} failed, {then}: {_reason(result.tail)}")
    return json.loads(last), result.peak_rss_bytes


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


_BAR = re.compile(r"^(?P<label>[^━╸╺%]*?)\s*[━╸╺─]+.*?(?P<pct>\d{1,3})%")


def _reason(tail: list[str]) -> str:
    """The step's own explanation: its `error:` line, else the last exception line, else its last line."""
    for line in reversed(tail):
        if line.startswith("error: "):
            return line[len("error: "):]
    for line in reversed(tail):
        if re.match(r"^\w+(Error|Exception)\b", line):
            return line.split(": ", 1)[-1][:300]
    return tail[-1][:300] if tail else "no output"
