"""Find the best's candidates while they wait for a choice, without converting anything: only their owner
keeps them, one search per owner and a few in all, and what nobody keeps is deleted."""

import pytest

from genai_ui.convert.best import PendingCandidates
from genai_ui.errors import InvalidParameter, NotAllowed

BASE = {"name": "SmolLM2", "task": "text-generation", "context_length": 8192,
        "source": {"repo_id": "HuggingFaceTB/SmolLM2-135M-Instruct"}}


def _search(pending: PendingCandidates, owner: str, search: str) -> str:
    folder = pending.folder()
    for name in ("int8", "nf4"):
        (folder / name).mkdir()
        (folder / name / "openvino_model.xml").write_text("<net/>")
    rows = [{"name": n, "weight_format": n, "options": {"weight_format": n}, "report": {"quality": {"verdict": v}}}
            for n, v in (("int8", "same"), ("nf4", "degraded"))] + [{"name": "int4-g128", "skipped": "no fit"}]
    pending.hold(owner, folder, {"search": search, "rows": rows}, BASE)
    return search


def test_only_the_owner_keeps_and_the_rest_is_deleted(library):
    pending = PendingCandidates(library)
    search = _search(pending, "hf:alice", "s1")
    with pytest.raises(NotAllowed, match="someone else's"):
        pending.keep(search=search, names=["int8"], owner="hf:mallory")
    with pytest.raises(InvalidParameter, match="No finished candidate 'int4-g128'.*its candidates are int8, nf4"):
        pending.keep(search=search, names=["int4-g128"], owner="hf:alice")
    (kept,) = pending.keep(search=search, names=["nf4"], owner="hf:alice")
    assert kept.id == "SmolLM2-nf4" and kept.owner == "hf:alice" and kept.report["quality"]["verdict"] == "degraded"
    assert [e.id for e in library.list()] == ["SmolLM2-nf4"]
    assert not list(library.models_dir.glob(".staging-best-*"))  # int8 went with the rest
    with pytest.raises(InvalidParameter, match="not waiting for a choice"):
        pending.keep(search=search, names=["int8"], owner="hf:alice")


def test_one_search_per_owner_a_few_in_all_and_none_after_an_hour(library, monkeypatch):
    import time

    import genai_ui.convert.best as best

    pending = PendingCandidates(library, max_held=2)
    _search(pending, "a", "a1")
    _search(pending, "a", "a2")  # replaces a1
    assert len(list(library.models_dir.glob(".staging-best-*"))) == 1
    _search(pending, "b", "b1")
    _search(pending, "c", "c1")  # over the bound: the oldest (a2) goes
    with pytest.raises(InvalidParameter, match="not waiting"):
        pending.keep(search="a2", names=["int8"], owner="a")
    assert len(list(library.models_dir.glob(".staging-best-*"))) == 2
    later = time.monotonic() + best.KEPT_FOR_S + 1
    monkeypatch.setattr(best.time, "monotonic", lambda: later)
    _search(pending, "d", "d1")  # expiry runs first: b1 and c1 are past their hour
    assert len(list(library.models_dir.glob(".staging-best-*"))) == 1
    pending.discard("d1", "someone else")  # not theirs: nothing happens
    assert len(list(library.models_dir.glob(".staging-best-*"))) == 1
    pending.discard("d1", "d")
    assert not list(library.models_dir.glob(".staging-best-*")) and library.list() == []
