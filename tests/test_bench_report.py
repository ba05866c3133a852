"""`python -m genai_ui.bench report`: docs/speed.md's figures are made from the benches' JSON files in
docs/bench/, with the machine each ran on, and a figure edited by hand is caught."""

import json

import pytest

from genai_ui.bench.common import machine, save_result
from genai_ui.bench.load import load_table
from genai_ui.bench.report import DOCS, RESULTS, TABLES, main, render, take

LOAD = {"users": 8, "seconds": 120.4, "max_new_tokens": 96, "replies": 97, "errors": 0, "crosstalk": 0,
        "own_city_missing": 14, "tokens_per_s": 74.1, "latency_median_s": 9.9, "latency_p95_s": 12.5,
        "rss_after_warmup_mb": 694, "rss_end_mb": 719, "rss_peak_mb": 720, "memory_growth": 0.036,
        "scaling_tokens_per_s": {"1": 29.4, "4": 60.7}, "four_users_vs_one": 2.07, "examples": {}}
PAGE = "# Speed\n\nWhat the bench does.\n\n<!-- bench:load -->\nold figures\n<!-- /bench:load -->\n\nWhy.\n"


def test_the_page_shows_the_figures_of_its_results():
    assert main(None, check=True) == 0
    pages = [page.read_text() for page in DOCS]
    for name in TABLES:  # every bench has its block on one page, made from a result file that names its machine
        assert sum(f"<!-- bench:{name} -->" in text for text in pages) == 1
        assert json.loads((RESULTS / f"{name}.json").read_text())["machine"]["cores"] >= 1


def test_a_block_is_the_machine_and_the_benchs_own_table(tmp_path):
    save_result(tmp_path, "load", LOAD)
    made = render(PAGE, tmp_path)
    m = machine()
    assert made.startswith("# Speed\n\nWhat the bench does.\n\n<!-- bench:load -->\nMeasured on ")
    assert f"{m['cpu']} ({m['cores']} cores" in made and made.endswith("<!-- /bench:load -->\n\nWhy.\n")
    assert "| 4 people at once, in all | 60.7 tokens/s: **2.07×** one alone (target ≥ 2.5) |" in made
    assert "| app memory after warm-up → at the end | 694 MB → 719 MB: **+3.6%** (target < 10%) |" in made
    assert "old figures" not in made and render(made, tmp_path) == made  # made again: the same page


def test_a_figure_edited_by_hand_is_caught(tmp_path, capsys):
    save_result(tmp_path, "load", LOAD)
    doc = tmp_path / "speed.md"
    doc.write_text(render(PAGE, tmp_path))
    assert main(None, check=True, doc=doc, results=tmp_path) == 0
    doc.write_text(doc.read_text().replace("74.1 tokens/s", "94.1 tokens/s"))
    assert main(None, check=True, doc=doc, results=tmp_path) == 1
    assert "does not show the figures" in capsys.readouterr().out
    assert main(None, check=False, doc=doc, results=tmp_path) == 0 and "74.1 tokens/s" in doc.read_text()


def test_a_block_without_results_names_the_command_that_makes_them(tmp_path):
    with pytest.raises(LookupError, match=r"load\.json is missing: run `python -m genai_ui.bench load`"):
        render(PAGE, tmp_path)
    with pytest.raises(LookupError, match="no bench"):
        render("<!-- bench:nothing -->\n<!-- /bench:nothing -->", tmp_path)


def test_take_copies_only_the_benches_results(tmp_path):
    source, results = tmp_path / "bench-output", tmp_path / "results"
    save_result(source, "load", LOAD)
    (source / "notes.json").write_text("{}")
    assert take(source, results) == ["load"]
    assert sorted(p.name for p in results.iterdir()) == ["load.json"]


def test_a_marker_without_its_pair_or_broken_results_are_said_not_skipped(tmp_path):
    save_result(tmp_path, "load", LOAD)
    with pytest.raises(LookupError, match="lacks its opening or closing marker: load"):
        render(PAGE.replace("<!-- /bench:load -->", "<!-- /bench:lood -->"), tmp_path)
    with pytest.raises(LookupError, match="lacks its opening or closing marker: load"):
        render(PAGE.replace("<!-- /bench:load -->\n", ""), tmp_path)
    (tmp_path / "load.json").write_text('{"users": 8}')
    with pytest.raises(LookupError, match=r"load\.json is not a result of `python -m genai_ui.bench load` \(KeyError"):
        render(PAGE, tmp_path)
    (tmp_path / "load.json").write_text("{half")
    with pytest.raises(LookupError, match="is not a result of"):
        render(PAGE, tmp_path)


def test_check_never_takes_new_results(tmp_path, capsys):
    save_result(tmp_path / "bench-output", "load", LOAD)
    assert main(tmp_path / "bench-output", check=True, doc=tmp_path / "speed.md", results=tmp_path / "results") == 2
    assert not (tmp_path / "results").exists() and "only compares" in capsys.readouterr().out


def test_a_load_run_without_replies_still_makes_its_table():
    silent = {**LOAD, "replies": 0, "tokens_per_s": 0.0, "latency_median_s": None, "latency_p95_s": None,
              "scaling_tokens_per_s": {"1": 0.0, "4": 0.0}, "four_users_vs_one": None}
    table = load_table(silent)
    assert "| reply time, median / 95th percentile | – / – |" in table and "**–×** one alone" in table
