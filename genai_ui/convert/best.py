"""Find the best compression of a checkpoint for this machine: one fp16 export, several compressions of it
(the candidates), each evaluated as a conversion's evaluation measures it (quality.py: KL divergence, top-1
agreement, the answers) with its decode speed on the chosen device; then a table, the Pareto front of size
and speed against KL divergence, and a recommendation by a stated rule. The candidates wait, outside the
library, until the person keeps the ones they want; the rest are deleted.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import Cancelled, ConversionFailed, InvalidParameter, NotAllowed
from ..hub.client import HubService
from ..hub.downloads import restriction
from ..library import Library, ModelEntry, context_length_of, folder_size
from ..tasks import TASKS
from ..work.background import Log, Progress
from .jobs import ConversionReport, Events, embedder_model
from .options import ExportOptions, input_widths
from .sources import add_preprocessor_config, checked_source, download_files, read_json, unique_id
from .steps import Steps, child_env, json_step, python_module, run_step


@dataclass(frozen=True)
class Candidate:
    name: str
    label: str
    options: ExportOptions


CANDIDATES = (
    Candidate("int8", "int8, per channel", ExportOptions(weight_format="int8")),
    Candidate("int4-g128", "int4 asym, groups of 128", ExportOptions(weight_format="int4", group_size=128)),
    Candidate("int4-g64", "int4 asym, groups of 64", ExportOptions(weight_format="int4", group_size=64)),
    Candidate("int4-awq", "int4 sym with AWQ and scale estimation on the model's own samples",
              ExportOptions(weight_format="int4", sym=True, awq=True, scale_estimation=True, dataset="auto")),
    Candidate("nf4", "nf4, the largest groups that fit", ExportOptions(weight_format="nf4")),
    Candidate("int4-mixed", "int4 asym on half of the layers, int8 on the rest",
              ExportOptions(weight_format="int4", ratio=0.5)),
)
RULE = ("the smallest candidate whose verdict is same or close; when none is, the one with the lowest KL "
        "divergence")
KEPT_FOR_S = 3600.0  # candidates nobody kept are deleted after this long
MAX_HELD = 4  # searches whose candidates wait at once, over all owners: the oldest goes first (disk is bounded)


def candidates(names: list[str] | str = "") -> tuple[Candidate, ...]:
    """The candidates named (a list, or a comma-separated string); all of them for none."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    known = {c.name: c for c in CANDIDATES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidParameter(f"Unknown candidate {', '.join(map(repr, unknown))}; the candidates are "
                               f"{', '.join(known)}.")
    if len(set(names)) != len(names):
        raise InvalidParameter("Name each candidate once.")
    return tuple(known[n] for n in names) if names else CANDIDATES


def pareto(rows: list[dict]) -> set[str]:
    """The candidates no other beats at once on size, speed and KL divergence (none smaller or as small, as fast
    or faster, and as close or closer, and better on one of them)."""
    def beats(a: dict, b: dict) -> bool:
        no_worse = (a["bytes"] <= b["bytes"] and a["tokens_per_s"] >= b["tokens_per_s"]
                    and a["kl_mean"] <= b["kl_mean"])
        better = a["bytes"] < b["bytes"] or a["tokens_per_s"] > b["tokens_per_s"] or a["kl_mean"] < b["kl_mean"]
        return no_worse and better

    done = [r for r in rows if not r.get("skipped")]
    return {r["name"] for r in done if not any(beats(o, r) for o in done if o is not r)}


def recommend(rows: list[dict]) -> str:
    """The candidate RULE picks, or "" when none finished."""
    done = [r for r in rows if not r.get("skipped")]
    if not done:
        return ""
    good = [r for r in done if r["verdict"] in ("same", "close")]
    if good:
        return min(good, key=lambda r: (r["bytes"], r["kl_mean"]))["name"]
    return min(done, key=lambda r: r["kl_mean"])["name"]


@dataclass
class _Held:
    owner: str
    folder: Path
    result: dict
    entry_base: dict  # what each kept candidate's library entry gets besides its own figures
    until: float


@dataclass
class PendingCandidates:
    """The candidates of finished searches, outside the library (a `.staging-` folder of it, which a start-up
    sweeps away after a crash), until their owner keeps some or they expire; one search per owner at a time,
    and at most `max_held` in all."""
    library: Library
    kept_for_s: float = KEPT_FOR_S
    max_held: int = MAX_HELD
    _held: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def folder(self) -> Path:
        return Path(tempfile.mkdtemp(prefix=".staging-best-", dir=self.library.models_dir))

    def hold(self, owner: str, folder: Path, result: dict, entry_base: dict) -> None:
        self.expire()
        with self._lock:
            earlier = [k for k, h in self._held.items() if h.owner == owner]
            gone = [self._held.pop(k).folder for k in earlier]
            self._held[result["search"]] = _Held(owner, folder, result, entry_base, time.monotonic() + self.kept_for_s)
            while len(self._held) > self.max_held:
                gone.append(self._held.pop(min(self._held, key=lambda k: self._held[k].until)).folder)
        for f in gone:  # the owner's earlier search, replaced by this one, and the oldest beyond the bound
            shutil.rmtree(f, ignore_errors=True)

    def expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            old = [k for k, h in self._held.items() if h.until < now]
            gone = [self._held.pop(k).folder for k in old]
        for f in gone:
            shutil.rmtree(f, ignore_errors=True)

    def keep(self, *, search: str, names: list[str], owner: str) -> list[ModelEntry]:
        """The named candidates into the library (each with its report); the others deleted."""
        self.expire()
        with self._lock:
            held = self._held.get(search)
            if held is None:
                raise InvalidParameter("That search is not waiting for a choice: its candidates were kept, "
                                       "deleted, or expired an hour after it ended. Run it again.")
            if held.owner != owner:
                raise NotAllowed("That search is someone else's: only the person who ran it keeps its candidates.")
            rows = {r["name"]: r for r in held.result["rows"] if not r.get("skipped")}
            unknown = [n for n in names if n not in rows]
            if unknown:
                raise InvalidParameter(f"No finished candidate {', '.join(map(repr, unknown))} in that search; "
                                       f"its candidates are {', '.join(rows) or 'none'}.")
            self._held.pop(search)
        kept = []
        try:
            for name in names:
                row, base = rows[name], held.entry_base
                local_id = unique_id(self.library, f"{base['name']}-{name}")
                report = {**row["report"], "id": local_id}
                kept.append(self.library.install(held.folder / name, ModelEntry(
                    id=local_id, task=base["task"], format="openvino", weight_format=row["weight_format"],
                    location="", context_length=base["context_length"], source=base["source"],
                    options=row["options"], report=report, owner=owner)))
        finally:
            shutil.rmtree(held.folder, ignore_errors=True)
        return kept

    def discard(self, search: str, owner: str) -> None:
        with self._lock:
            held = self._held.get(search)
            if held is None or held.owner != owner:
                return
            self._held.pop(search)
        shutil.rmtree(held.folder, ignore_errors=True)


def find_best(*, hub: HubService, library: Library, pending: PendingCandidates, repo_id: str,
              names: list[str] | str = "", token: str = "", cancel: threading.Event | None = None,
              cache_dir: Path | None = None, device: str = "CPU", owner: str = "",
              trust_remote_code: bool = False) -> Events:
    """Convert `repo_id` at each candidate's settings and measure each; returns the search's result:
    {search, repo_id, rows, recommended, rule, pareto, reference_bytes, seconds, stopped}. Cancel stops it, and
    the candidates already finished are still offered."""
    cancel = cancel or threading.Event()
    chosen = candidates(names)
    stage = Steps(["Check", "Download", "Export"] + [c.name for c in chosen] + ["Compare"])
    started = time.monotonic()

    yield stage("Check")
    about, task, files = checked_source(hub, library, repo_id, ExportOptions(trust_remote_code=trust_remote_code),
                                        token, outputs=[c.options.weight_format for c in chosen])
    if not TASKS[task].compares_answers:
        raise InvalidParameter(f"{about.id} is a {task} model: Find the best measures chat models so far.")
    yield stage("Download")
    snapshot = yield from download_files(hub, about, files, token, cache_dir, cancel)
    config = read_json(snapshot / "config.json")
    export_task = TASKS[task].export_task
    env = child_env(hub)
    work = pending.folder()
    rows: list[dict] = []
    stopped = False
    try:
        env["TMPDIR"] = str(work)
        reference = work / ".reference"
        yield stage("Export")
        yield from run_step(python_module("genai_ui.convert.worker", "export", "--source", str(snapshot), "--task",
                                          export_task, "--weight-format", "fp16", "--reference", str(reference))
                            + (["--trust-remote-code"] if trust_remote_code else []),
                            "The fp16 export", cancel, env, percent=True)
        add_preprocessor_config(snapshot, reference)
        embedder = yield from embedder_model(library, cancel, env)
        answers = work / ".reference-answers.json"
        widths = input_widths(config)
        for i, cand in enumerate(chosen):
            yield stage(cand.name)
            yield Log(f"Candidate {i + 1} of {len(chosen)}: {cand.label}")
            group = cand.options.group_size_for(config)
            if group > 0 and widths and any(w % group for w in widths):
                rows.append({"name": cand.name, "label": cand.label, "skipped": f"groups of {group} do not divide "
                             f"the layers' widths ({', '.join(map(str, sorted(widths)))})"})
                yield Log(f"Skipped {cand.name}: {rows[-1]['skipped']}")
                continue
            out = work / cand.name
            begun = time.monotonic()
            try:
                peak = yield from run_step(
                    python_module("genai_ui.convert.worker", "quantize", "--source", str(snapshot), "--reference",
                                  str(reference), "--output", str(out), "--task", export_task, "--config",
                                  json.dumps(cand.options.quantization_config(group)))
                    + (["--trust-remote-code"] if trust_remote_code else []),
                    f"Compressing to {cand.name}", cancel, env, percent=True)
                found, eval_peak = yield from json_step(
                    python_module("genai_ui.convert.quality", "--reference", str(reference), "--candidate", str(out),
                                  "--device", device, "--depth", "full", "--embedder", str(embedder),
                                  "--reference-answers", str(answers)),
                    f"Evaluating {cand.name}", "it is left out", cancel, env)
            except ConversionFailed as err:  # one candidate the tools cannot make: the others still run
                shutil.rmtree(out, ignore_errors=True)
                rows.append({"name": cand.name, "label": cand.label, "skipped": f"failed: {err}"})
                yield Log(f"Left out {cand.name}: {err}")
                continue
            q = found["quality"]
            rows.append(_row(cand, group, out, found, max(peak, eval_peak), time.monotonic() - begun, about.id,
                             export_task))
            left = (len(chosen) - i - 1) * (time.monotonic() - started) / (i + 1)
            yield Progress(i + 1, len(chosen), unit="candidates",
                           label=f"{cand.name}: {q['verdict']}, about {left / 60:.0f} min left")
    except Cancelled:
        stopped = True
        yield Log(f"Stopped: {len([r for r in rows if not r.get('skipped')])} candidates finished.")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    yield stage("Compare")
    front = pareto(rows)
    for r in rows:
        r["pareto"] = r["name"] in front
    result = {"search": uuid.uuid4().hex[:12], "repo_id": about.id, "rows": rows, "recommended": recommend(rows),
              "rule": RULE, "reference_bytes": folder_size(reference) if reference.exists() else 0,
              "seconds": round(time.monotonic() - started, 1), "stopped": stopped, "device": device}
    shutil.rmtree(reference, ignore_errors=True)
    if not any(not r.get("skipped") for r in rows):
        shutil.rmtree(work, ignore_errors=True)
        if stopped:
            raise Cancelled()
        raise ConversionFailed("No candidate could be made for this model: " + "; ".join(
            f"{r['name']}: {r['skipped']}" for r in rows))
    pending.hold(owner, work, result, {
        "name": about.id.split("/")[-1], "task": task, "context_length": context_length_of(config),
        "source": {"repo_id": about.id, "revision": "main", "commit": about.commit, "license": about.license,
                   **restriction(about)}})
    return result


def _row(cand: Candidate, group: int, folder: Path, found: dict, peak: int, seconds: float, repo: str,
         export_task: str) -> dict:
    q = found["quality"]
    options = {**cand.options.to_dict(), "group_size": group}
    command = (f"optimum-cli export openvino --model {repo} --task {export_task} "
               + " ".join(cand.options.cli_flags(group)) + " <output folder>")
    size = folder_size(folder)
    report = asdict(ConversionReport(
        id="", location="", task="", seconds=round(seconds, 1), source_bytes=0, output_bytes=size,
        peak_rss_bytes=peak, options=options, source=repo, precisions=found.get("precisions", {}), quality=q,
        tokens_per_s=round(q.get("candidate_tokens_per_s", 0.0), 1), command=command,
        reference="the uncompressed export (fp16)"))
    return {"name": cand.name, "label": cand.label, "options": options, "weight_format": cand.options.weight_format,
            "bytes": size, "precisions": found.get("precisions", {}), "verdict": q["verdict"],
            "kl_mean": q["tokens"]["kl_mean"], "top1_agreement": q["tokens"]["top1_agreement"],
            "answer_similarity": q["answer_similarity"], "tokens_per_s": q["candidate_tokens_per_s"],
            "seconds": round(seconds, 1), "command": command, "report": report}
