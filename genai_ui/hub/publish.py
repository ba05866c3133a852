"""Publishing a model of the library to the Hub, as the OpenVINO export Space and gguf-my-repo do:
a repo under the token's account, the model's files, and a model card that says what was done."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import InvalidParameter, WriteTokenNeeded
from ..library import MANIFEST, ModelEntry
from ..tasks import TASKS
from .client import HubService

# weight formats NNCF compresses to: the Hub calls such a model a quantization of its base
COMPRESSED = ("int4", "int8", "nf4", "mxfp4", "cb4", "fp8", "fp4")
MAX_NAME = 96
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_HUB_ID = re.compile(r"[A-Za-z0-9._-]+/[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    url: str
    commit: str
    files: list = field(default_factory=list)  # paths in the repo, README.md included

    def to_api(self) -> dict:
        return asdict(self)


def _base_model(entry: ModelEntry) -> str:
    """The source's Hub repo id, or "" when the model came from elsewhere (a local file)."""
    repo_id = str(entry.source.get("repo_id") or "")
    return repo_id if _HUB_ID.fullmatch(repo_id) else ""


def _is_compressed(weight_format: str) -> bool:
    return weight_format.lower() in COMPRESSED


def default_repo_name(*, entry: ModelEntry) -> str:
    """<model>-openvino-<format>: the source repo's name, else the entry id without its format suffix."""
    model = _base_model(entry).split("/")[-1]
    if not model:
        suffix = f"-{entry.weight_format}"
        model = entry.id[:-len(suffix)] if entry.id.lower().endswith(suffix.lower()) else entry.id
    known = entry.weight_format and entry.weight_format.lower() != "unknown"
    return f"{model}-openvino-{entry.weight_format}" if known else f"{model}-openvino"


def check_repo_name(name: str) -> str:
    """The Hub's rules for a repo name, each with its own message (the Hub's own just says 400)."""
    if not isinstance(name, str) or not name:
        raise InvalidParameter("Give the repo a name.")
    if "/" in name:
        raise InvalidParameter(f"'{name}' is not a repo name: give just the name, without an owner; the repo is "
                               "created under the account of the token.")
    if not _NAME.fullmatch(name):
        raise InvalidParameter(f"'{name}' is not a valid repo name: use letters, digits, '-', '_' and '.' only.")
    if len(name) > MAX_NAME:
        raise InvalidParameter(f"'{name}' is {len(name)} characters long; a repo name has at most {MAX_NAME}.")
    if "--" in name or ".." in name:
        raise InvalidParameter(f"'{name}' is not a valid repo name: it cannot contain '--' or '..'.")
    if name[0] in "-." or name[-1] in "-.":
        raise InvalidParameter(f"'{name}' is not a valid repo name: it cannot start or end with '-' or '.'.")
    if name.endswith(".git"):
        raise InvalidParameter(f"'{name}' is not a valid repo name: it cannot end with '.git'.")
    return name


def usage_snippet(*, task: str, repo_id: str) -> str:
    """Python that downloads the published repo and runs it with openvino_genai."""
    extra, body = TASKS[task].usage
    imports = sorted(["import huggingface_hub", "import openvino_genai", *extra],
                     key=lambda line: line.split()[1].lower())  # by module: from PIL after import openvino
    return "\n".join(imports) + f"\n\nmodel_dir = huggingface_hub.snapshot_download({json.dumps(repo_id)})\n{body}"


# report keys that are no measurement or are shown elsewhere; `location` is a path on this machine and
# must never reach a public card; `rows` are the quality check's answers, prompt by prompt
_NOT_SHOWN = {"id", "location", "task", "source", "options", "command", "rows", "summary"}
_LABELS = {"seconds": "Conversion time", "source_bytes": "Source size", "output_bytes": "Output size",
           "peak_rss_bytes": "Peak memory", "tokens_per_s": "Speed", "precisions": "Weights", "stages": "Stage",
           "candidate_tokens_per_s": "speed", "reference_tokens_per_s": "speed of the original model"}


def _value(key: str, value) -> str:
    if key == "precisions" and isinstance(value, dict):  # share of weights per precision
        return ", ".join(f"{k} {v:.0%}" if isinstance(v, float) and 0 <= v <= 1 else f"{k} {v}"
                         for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if key.endswith("bytes"):
        return f"{value / 2**20:,.1f} MB"
    if key.endswith("seconds"):
        return f"{value:,.1f} s"
    if key.endswith("per_s"):
        return f"{value:,.1f} tokens/s"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _rows(data: dict, prefix: str = "", unit: str = "") -> list[tuple[str, str]]:
    """A report as table rows, whatever keys it has: {"quality": {"score": 0.9}} is the row "Quality: score"."""
    rows = []
    for key, value in data.items():
        if key in _NOT_SHOWN or value is None or value == "" or value == {} or value == []:
            continue
        name = _LABELS.get(key, key.replace("_", " "))
        label = f"{prefix}: {name}" if prefix else name[:1].upper() + name[1:]
        if isinstance(value, dict) and key != "precisions":
            rows += _rows(value, label, "seconds" if key == "stages" else "")
        else:
            rows.append((label, _value(unit or key, value)))
    return rows


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    return "\n".join(lines + [f"| {cell(a)} | {cell(b)} |" for a, b in rows]) + "\n"


def model_card(*, entry: ModelEntry, repo_id: str = "") -> str:
    """README.md for the published repo: front matter the Hub indexes, then what was done and how to run it."""
    import yaml

    base = _base_model(entry)
    compressed = _is_compressed(entry.weight_format)
    front: dict = {}
    if entry.source.get("license"):
        front["license"] = str(entry.source["license"])
    if base:
        front["base_model"] = base
        if compressed:
            front["base_model_relation"] = "quantized"
    front["library_name"] = "openvino"
    # nncf only did the work when the weights were compressed; fp16/fp32 is a plain export
    tags = ["openvino"] + (["nncf"] if compressed else [])
    if entry.weight_format and entry.weight_format.lower() not in ("unknown", *tags):
        tags.append(entry.weight_format.lower())
    front["tags"] = tags
    front["pipeline_tag"] = entry.task

    repo_id = repo_id or f"<user>/{default_repo_name(entry=entry)}"
    title = repo_id.split("/")[-1]
    origin = f"[{base}](https://huggingface.co/{base})" if base else f"`{entry.id}`"
    parts = [
        f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True)}---\n",
        f"# {title}\n",
        f"This is {origin} exported to [OpenVINO](https://github.com/openvinotoolkit/openvino) IR with "
        f"[optimum-intel](https://github.com/huggingface/optimum-intel), with weights in "
        f"**{entry.weight_format or 'their original precision'}**. It was converted and published with genai_ui.\n",
    ]
    if entry.options:
        parts.append("## Export options\n\n" + _table(("Option", "Value"), [
            (key, f"`{value}`") for key, value in entry.options.items()]))
    rows = _rows(entry.report)
    if rows:
        parts.append("## Conversion report\n\n" + _table(("Measure", "Value"), rows))
    if entry.report.get("command"):
        parts.append(f"## Reproduce\n\nThe same export with optimum-cli:\n\n```sh\n{entry.report['command']}\n```\n")
    code = usage_snippet(task=entry.task, repo_id=repo_id)
    pillow = " pillow" if "from PIL" in code else ""
    parts.append("## Usage with OpenVINO GenAI\n\n"
                 f"```sh\npip install openvino-genai huggingface_hub{pillow}\n```\n\n```python\n{code}```\n")
    return "\n".join(parts)


def _files(folder: Path) -> dict[str, Path]:
    """What goes to the repo: the model's files, not our manifest, hidden files, nor a README we replace."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if not path.is_file() or name in (MANIFEST, "README.md") or any(p.startswith(".") for p in name.split("/")):
            continue
        found[name] = path
    return found


def publish(*, hub: HubService, entry: ModelEntry, token: str, repo_name: str = "", private: bool = False,
            on_progress: Callable[[int, int], None] | None = None) -> PublishResult:
    """Create (or reuse) <user>/<repo_name> and commit the entry's folder and a model card to it.

    Only the session's own token publishes, never the operator's HF_TOKEN: a shared app must not push to
    the operator's account. The library folder is left as it is: the card goes in as bytes."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    if not isinstance(token, str) or not token.strip():
        raise WriteTokenNeeded("Publishing needs a Hugging Face token with write access: create one at "
                               "https://huggingface.co/settings/tokens and give it in the token box.")
    token = token.strip()
    if entry.format != "openvino":
        raise InvalidParameter(f"'{entry.id}' is a {entry.format} model; only OpenVINO models are published here.")
    name = check_repo_name(repo_name.strip() or default_repo_name(entry=entry))
    files = _files(Path(entry.location))
    if not any(n.endswith(".xml") for n in files):
        raise InvalidParameter(f"The folder of '{entry.id}' holds no OpenVINO model: nothing to publish.")
    total = sum(p.stat().st_size for p in files.values())

    repo_id = f"{hub.whoami(token)}/{name}"
    card = model_card(entry=entry, repo_id=repo_id).encode()

    def push(api):
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if private and not api.model_info(repo_id).private:
                # exist_ok keeps an existing repo as it is: never put a model meant to be private in public
                raise InvalidParameter(f"{repo_id} already exists and is public; choose another name to publish "
                                       "privately, or make that repo private on the Hub first.")
            operations = [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(p)) for n, p in files.items()]
            operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card))
            return api.create_commit(repo_id, operations, commit_message=f"Upload {entry.id} from genai_ui")
        except HfHubHTTPError as err:
            if err.response is not None and err.response.status_code in (401, 403):
                raise WriteTokenNeeded(f"The Hub refused to write to {repo_id}: publishing needs a Hugging Face "
                                       "token with write access.") from err
            raise

    # huggingface_hub reports upload progress only to its own tqdm bars, per file and per LFS part, with no
    # callback to hook; so the caller hears the start and the end, with the byte total.
    if on_progress:
        on_progress(0, total)
    commit = hub.call(push, token)
    if on_progress:
        on_progress(total, total)
    return PublishResult(repo_id=repo_id, url=f"{hub.endpoint.rstrip('/')}/{repo_id}", commit=commit.oid,
                         files=sorted([*files, "README.md"]))
