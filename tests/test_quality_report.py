"""The quality report as data and as the page shows it, without a model: the verdicts' thresholds, what a
report must hold, and its rows in words for a full evaluation, a quick check and a report of an older genai_ui."""

import math

import pytest

from genai_ui.convert.jobs import ConversionReport
from genai_ui.convert.quality import PROMPTS, VERDICTS, QualityReport, verdict_for
from genai_ui.errors import InvalidParameter
from genai_ui.library import ModelEntry
from genai_ui.ui.report import plot_rows, quality_rows, report_markdown
from genai_ui.ui.library_tab import report_of, rows

TOKENS = {"tokens": 1023, "reference_perplexity": 22.59, "candidate_perplexity": 30.1, "kl_mean": 0.3185,
          "kl_p99": 1.895, "top1_agreement": 0.649}
ROWS = [{"kind": "fact", "prompt": "What is the capital of France?", "reference": "The capital of France is Paris.",
         "candidate": "The capital of France is Paris.", "similarity": 1.0},
        {"kind": "code", "prompt": "How do I reverse a list in Python?", "reference": "Use reversed(x) | or x[::-1]",
         "candidate": "Use slicing.", "similarity": 0.62}]


def test_verdicts_follow_the_thresholds_in_order():
    for name, most_kl, least_top1 in VERDICTS:
        assert verdict_for(kl_mean=most_kl, top1=least_top1) == name
    assert verdict_for(kl_mean=0.0, top1=1.0) == "same"
    assert verdict_for(kl_mean=VERDICTS[-1][1] * 2, top1=1.0) == "broken"
    assert verdict_for(kl_mean=0.0, top1=0.0) == "broken"  # both figures must pass
    assert verdict_for(answers=1.0) == "same" and verdict_for(answers=0.0) == "broken"
    with pytest.raises(InvalidParameter, match="needs"):
        verdict_for()


def test_at_least_sixteen_prompts_of_several_kinds():
    assert len(PROMPTS) >= 16 and {kind for kind, _ in PROMPTS} >= {"fact", "instruction", "code", "summary"}


def test_report_checks_itself():
    with pytest.raises(InvalidParameter, match="token-level figures, an answered prompt or a compared picture"):
        QualityReport(depth="full")
    row = {"kind": "fact", "prompt": "p", "reference": "a", "candidate": "a", "similarity": 1.0}
    with pytest.raises(InvalidParameter, match="candidate_tokens_per_s"):
        QualityReport(depth="full", rows=[row], candidate_tokens_per_s=math.nan)
    with pytest.raises(InvalidParameter, match="depth"):
        QualityReport(depth="deep", rows=[row])
    with pytest.raises(InvalidParameter, match="kind, prompt"):
        QualityReport(depth="full", rows=[{"prompt": "p", "reference": "a", "candidate": "a", "similarity": 1.0}])
    answers_only = QualityReport(depth="full", rows=[row])
    assert answers_only.verdict == "same" and answers_only.to_api()["tokens"] is None


def test_a_full_report_in_words_and_side_by_side():
    full = QualityReport(depth="full", tokens=TOKENS, rows=ROWS, candidate_tokens_per_s=50.0,
                         reference_tokens_per_s=40.0).to_api()
    assert full["verdict"] == "degraded" and full["answer_similarity"] == 0.81
    report = ConversionReport(id="m-int4", location="", task="text-generation", seconds=90.0, source_bytes=500,
                              output_bytes=100, peak_rss_bytes=1, options={}, quality=full, tokens_per_s=50.0,
                              reference="the uncompressed export (fp16)", precisions={"int4": 0.79, "int8": 0.21})
    text = report_markdown(report)
    assert ("| Quality | **degraded**: noticeably different: answers drift from the reference's, and some are worse, "
            "against the uncompressed export (fp16) |") in text
    assert ("KL divergence 0.319 (99th percentile 1.90), the same top token 65% of the time, perplexity 22.6 → 30.1, "
            "on 1023 tokens") in text
    assert "| Answers | 0.81 similar to the reference's on 2 prompts" in text
    # side by side, a table's bar in an answer kept from breaking the row
    assert "| code | How do I reverse a list in Python? | Use reversed(x) / or x[::-1] | Use slicing. | 0.62 |" in text
    bars = plot_rows(report)
    assert bars[0] == {"what": "same top token", "value": 0.649, "kind": "token by token"}
    assert [b["value"] for b in bars if b["kind"] == "answer like before"] == [1.0, 0.62]


def test_a_quick_check_says_it_is_a_first_estimate_and_a_stop_says_so():
    quick = {**QualityReport(depth="quick", tokens=TOKENS).to_api(),
             "evaluation": "stopped before the end: these are the quick check's figures"}
    words = dict(quality_rows(quick))
    assert words["Quality"].startswith("**degraded** (a first estimate from one chunk of text")
    assert "Answers" not in words and words["Evaluation"].startswith("stopped before the end")


def test_a_report_of_an_older_genai_ui_still_reads():
    old = {"verdict": "close", "score": 0.71, "rows": [{"prompt": "p", "reference": "a", "candidate": "b",
                                                       "similarity": 0.71}] * 4}
    assert quality_rows(old, "the fp16 export") == [
        ("Quality", "**close**: 0.71 word overlap with the greedy answers of the fp16 export on 4 prompts (an older, "
                    "coarser check)")]


def test_the_library_shows_each_models_last_verdict_and_report():
    q = {**QualityReport(depth="full", tokens=TOKENS, rows=ROWS).to_api(), "evaluated": "2026-12-07T15:00:00+00:00"}
    entry = ModelEntry(id="m-int4", task="text-generation", format="openvino", weight_format="int4", location="/x",
                       report={"quality": q, "reference": "m-fp16, a model of the library"})
    plain = ModelEntry(id="m", task="text-generation", format="gguf", weight_format="Q4_1", location="/y")
    assert [r[5] for r in rows([entry, plain])] == ["degraded", "–"]
    shown = report_of(entry)
    assert "**Last quality report** (measured 2026-12-07)" in shown and "against m-fp16, a model of the library" in shown
    assert "What is the capital of France?" in shown and report_of(plain) == ""


def _row(name, size, kl, speed, verdict):
    return {"name": name, "bytes": size, "kl_mean": kl, "tokens_per_s": speed, "verdict": verdict}


def test_the_pareto_front_and_the_recommendation_follow_their_rule():
    from genai_ui.convert.best import RULE, candidates, pareto, recommend

    rows = [_row("int8", 137, 0.003, 40.0, "same"), _row("int4-mixed", 110, 0.09, 45.0, "close"),
            _row("int4-g64", 90, 0.32, 55.0, "degraded"), _row("nf4", 90, 0.28, 50.0, "degraded"),
            _row("int4-g128", 95, 0.40, 50.0, "degraded"), {"name": "x", "skipped": "does not fit"}]
    # int4-g128 is beaten by int4-g64 on all three (smaller, faster, closer); the others each win somewhere
    assert pareto(rows) == {"int8", "int4-mixed", "int4-g64", "nf4"}
    assert recommend(rows) == "int4-mixed"  # the smallest that is same or close
    assert recommend([r for r in rows if r.get("verdict") == "degraded"]) == "nf4"  # none close: the lowest KL
    assert recommend([rows[-1]]) == "" and RULE.startswith("the smallest candidate whose verdict is same or close")
    assert [c.name for c in candidates("int8, nf4")] == ["int8", "nf4"] and len(candidates("")) == 6
    with pytest.raises(InvalidParameter, match="Unknown candidate 'int3'; the candidates are int8, int4-g128"):
        candidates("int3")
    with pytest.raises(InvalidParameter, match="once"):
        candidates("int8,int8")


def test_an_image_models_report_and_its_pictures_side_by_side():
    from genai_ui.convert.pictures import image_verdict
    from genai_ui.ui.report import answers_markdown, quality_rows

    pair = {"prompt": "a <b>lighthouse</b>", "seed": 42, "psnr": 31.2, "ssim": 0.9, "reference_jpeg": "UkVG",
            "candidate_jpeg": "Q0FORA=="}
    images = {"psnr": 31.2, "ssim": 0.9, "size": "64x64", "steps": 20, "pairs": [pair]}
    report = QualityReport(depth="full", images=images)
    assert report.verdict == "close" == image_verdict(0.9) and image_verdict(0.95) == "same"
    assert image_verdict(0.59) == "broken" and report.to_api()["images"] == images
    assert report.to_api()["means"] == "the same pictures, with differences a close look finds"
    assert report.summary() == "Quality: close: pictures 31.2 dB PSNR, SSIM 0.900 on 1 prompts"
    rows = dict(quality_rows(report.to_api()))
    assert rows["Pictures"].startswith("31.2 dB PSNR and 0.900 SSIM against the reference's pictures (1 prompts")
    shown = answers_markdown(report.to_api())
    assert "a &lt;b&gt;lighthouse&lt;/b&gt;" in shown and "<b>" not in shown  # the prompt is text, not markup
    assert 'src="data:image/jpeg;base64,UkVG"' in shown and 'src="data:image/jpeg;base64,Q0FORA=="' in shown
