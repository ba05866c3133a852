"""Will openvino_genai run it? Each task's row (tasks.py) lists the architectures its pipeline runs: adding
one is adding a name there.

The names are the Hub's `config.model_type` (or a diffusers pipeline class) of the
architectures openvino.genai's supported-models page lists as validated; similar ones may
work too, and the reason says so rather than promising.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tasks import TASKS, run_here

# openvino_genai reads GGUF files of these architectures directly (FACTS.md)
GGUF_ARCHITECTURES = frozenset({"llama", "qwen2", "qwen3"})


@dataclass(frozen=True)
class Support:
    supported: bool
    reason: str = ""  # why not, in a sentence; or a caveat when supported


def check_support(*, task: str | None, config: dict | None = None, gguf: dict | None = None,
                  openvino_ready: bool = False) -> Support:
    """From what the Hub tells about a repo: its pipeline tag, config and GGUF blocks."""
    config = config or {}
    if gguf:
        arch = gguf.get("architecture") or "unknown"
        if arch in GGUF_ARCHITECTURES:
            return Support(True)
        return Support(False, f"GGUF architecture {arch} is not read by openvino_genai "
                              f"(it reads {', '.join(sorted(GGUF_ARCHITECTURES))})")
    row = TASKS.get(task or "")
    if row is None:
        return Support(False, f"task {task or 'unknown'} is not run here ({run_here()} models are)")
    named = config.get("id2label")
    labels = [str(v) for v in named.values()] if isinstance(named, dict) else []
    if row.one_score and len(labels) > 1:  # the Hub's listing holds no labels; a model's config.json does
        shown = ", ".join(labels[:4]) + (", …" if len(labels) > 4 else "")
        return Support(False, f"it sorts text into {len(labels)} labels ({shown}): a classifier, not a reranker, "
                              f"which gives a question and a passage one score")
    architecture = row.architecture(config)
    if architecture in row.architectures:
        return Support(True)
    if architecture in row.fallback:
        return Support(True, f"architecture {architecture} is not on openvino_genai's list: it runs there if it can, "
                             "else on the Optimum Intel engine (slower)")
    if architecture is None:
        return Support(openvino_ready, "" if openvino_ready else "the repo does not say its architecture")
    what = "diffusers pipeline" if row.named_by == "diffusers" else "architecture"
    return Support(False, f"{what} {architecture} is not run by openvino_genai's {row.pipeline}")
