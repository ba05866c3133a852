"""`python -m genai_ui.bench history`: a history over the bounds is refused with the bound named, one within them
is trimmed and answered, another user is answered meanwhile, and every figure is measured (the times themselves
are the bench's to report, not a test's to assert)."""

import json

import pytest

from genai_ui.bench import main

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own


def test_every_figure_is_measured_in_one_run(tmp_path, capsys):
    main(["history", "--runs", "1", "--kept-tokens", "512", "--output", str(tmp_path)])
    result = json.loads((tmp_path / "history.json").read_text())
    assert result["refused_history"]["errors"] == [
        "The conversation has 2,000 messages; the limit is 1,000. Clear it (or send only its latest messages)."]
    assert result["refused_history"]["chars"] > result["bounds"]["chars"]
    trimmed = result["trimmed_history"]
    assert trimmed["messages"] == 1_000 and trimmed["chars"] == 1_000_000 == result["bounds"]["chars"]
    assert 0 < trimmed["kept_messages"] < 1_000 and 0 < trimmed["kept_tokens"] <= 512
    assert result["failures"] == []
    for name, values in result["per_run"].items():
        assert len(values) == 1 and values[0] is not None, name
        assert values[0] > 0 or name in ("trim_added_s", "question_after_trimmed_first_token_s"), name  # differences
    assert None not in result["figures"].values()
    assert all("Paris" in answer for answer in result["question"]["answers"])  # no one else's reply in it
    assert "| … the trim's own cost (the difference, in each run) |" in capsys.readouterr().out
