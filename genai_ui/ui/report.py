"""A conversion's report as the page shows it: its figures, its quality measures, the answers and pictures
compared, and Find the best's candidates."""

from __future__ import annotations

from html import escape

from ..convert.jobs import ConversionReport
from ..tasks import label
from .format import human_bytes, human_seconds


def report_markdown(r: ConversionReport) -> str:
    ratio = r.source_bytes / r.output_bytes if r.output_bytes else 0
    change = f"{ratio:.1f}× smaller" if ratio >= 1.05 else "about the same" if ratio > 0.95 else "bigger"
    rows = [("Model", f"**{r.id}** ({label(r.task)})"), ("From", r.source),
            ("Size", f"{human_bytes(r.source_bytes)} → {human_bytes(r.output_bytes)} ({change})"),
            ("Time", f"{human_seconds(r.seconds)} (" + ", ".join(f"{k.lower()} {human_seconds(v)}"
                                                             for k, v in r.stages.items()) + ")"),
            ("Peak memory of the job", human_bytes(r.peak_rss_bytes)),
            ("Weights", ", ".join(f"{k} {v:.0%}" for k, v in sorted(r.precisions.items(), key=lambda kv: -kv[1])))]
    rows += quality_rows(r.quality, r.reference)
    if r.tokens_per_s:
        reference = (r.quality or {}).get("reference_tokens_per_s")
        rows.append(("Speed", f"{r.tokens_per_s:.0f} tokens/s" + (f" (before: {reference:.0f})"
                                                                   if reference else "")))
    options = {k: v for k, v in r.options.items() if v not in (False, "", 0, None) or k == "group_size"}
    rows.append(("Options", ", ".join(f"{k}={v}" for k, v in options.items())))
    if r.command:
        rows.append(("Same as", f"`{r.command}`"))
    return table_markdown(rows) + answers_markdown(r.quality)


def table_markdown(rows: list[tuple[str, str]]) -> str:
    return "| Report | |\n|---|---|\n" + "\n".join(f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows)


def quality_rows(q: dict | None, reference: str = "") -> list[tuple[str, str]]:
    """A quality report in words: the verdict and what it means, the token-level figures, the answers'."""
    if not q:
        return []
    against = reference or "the original"
    if "depth" not in q and "score" not in q:  # no figures: an evaluation stopped before its first
        return [("Evaluation", q.get("evaluation", "not measured"))]
    if "depth" not in q:  # a report of genai_ui before December 2026: four answers, compared word by word
        return [("Quality", f"**{q.get('verdict')}**: {q.get('score', 0):.2f} word overlap with the greedy answers of "
                            f"{against} on {len(q.get('rows', []))} prompts (an older, coarser check)")]
    first = " (a first estimate from one chunk of text: the full evaluation follows)" if q["depth"] == "quick" else ""
    rows = [("Quality", f"**{q['verdict']}**{first}: {q.get('means', '')}, against {against}")]
    t = q.get("tokens")
    if t:
        rows.append(("Token by token", f"KL divergence {t['kl_mean']:.3f} (99th percentile {t['kl_p99']:.2f}), "
                                       f"the same top token {t['top1_agreement']:.0%} of the time, perplexity "
                                       f"{t['reference_perplexity']:.1f} → {t['candidate_perplexity']:.1f}, on "
                                       f"{t['tokens']} tokens of *Alice's Adventures in Wonderland*"
                                       + (", after a picture" if t.get("image") else "")))
    if q.get("rows"):
        rows.append(("Answers", f"{q['answer_similarity']:.2f} similar to the reference's on {len(q['rows'])} "
                                "prompts (sentence embeddings, all-MiniLM-L6-v2; 1 is the same meaning)"))
    if q.get("images"):
        i = q["images"]
        rows.append(("Pictures", f"{i['psnr']:.1f} dB PSNR and {i['ssim']:.3f} SSIM against the reference's pictures "
                                 f"({len(i['pairs'])} prompts, the same seed, {i['size']}, {i['steps']} steps; SSIM 1 "
                                 "is the same picture)"))
    if q.get("evaluation"):
        rows.append(("Evaluation", q["evaluation"]))
    return rows


def answers_markdown(q: dict | None) -> str:
    """The greedy answers side by side, with their similarity; an image model's pictures side by side."""
    if q and (q.get("images") or {}).get("pairs"):
        return "\n\n" + pictures_html(q["images"]["pairs"])
    if not q or not q.get("rows"):
        return ""
    return "\n\n| kind | prompt | before | after | similarity |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {x.get('kind', '')} | {_cell(x['prompt'])} | {_cell(x['reference'])} | {_cell(x['candidate'])} | "
        f"{x['similarity']:.2f} |" for x in q["rows"])


def pictures_html(pairs: list[dict]) -> str:
    """Each prompt's two pictures side by side (the report keeps them as small JPEGs), with their figures."""
    cells = "".join(
        f'<tr><td>{escape(p["prompt"])}<br>seed {p["seed"]}: PSNR {p["psnr"]:.1f} dB, SSIM {p["ssim"]:.3f}</td>'
        f'<td><img alt="before" width="160" src="data:image/jpeg;base64,{p["reference_jpeg"]}"></td>'
        f'<td><img alt="after" width="160" src="data:image/jpeg;base64,{p["candidate_jpeg"]}"></td></tr>'
        for p in pairs)
    return f'<table class="gu-pictures"><tr><th>prompt</th><th>before</th><th>after</th></tr>{cells}</table>'


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "/")[:160]


def plot_rows(r: ConversionReport) -> list[dict]:
    """The bar chart: the share of the same top token, each answer's (or picture's) similarity, and the share of
    weights at each precision."""
    q = r.quality or {}
    bars = []
    if q.get("tokens"):
        bars.append({"what": "same top token", "value": round(q["tokens"]["top1_agreement"], 3),
                     "kind": "token by token"})
    bars += [{"what": f"answer {i}", "value": round(max(0.0, x["similarity"]), 3), "kind": "answer like before"}
             for i, x in enumerate(q.get("rows", []), 1)]
    bars += [{"what": f"picture {i} (SSIM)", "value": round(max(0.0, x["ssim"]), 3), "kind": "picture like before"}
             for i, x in enumerate((q.get("images") or {}).get("pairs", []), 1)]
    bars += [{"what": k, "value": round(v, 3), "kind": "share of weights"} for k, v in r.precisions.items()]
    return bars


BEST_COLUMNS = ["candidate", "size", "verdict", "KL divergence", "same top token", "answers alike", "tokens/s",
                "Pareto front", "settings"]


def best_rows(result: dict) -> list[list]:
    """Find the best's table: one row a candidate, the skipped ones with why."""
    out = []
    for r in result["rows"]:
        if r.get("skipped"):
            out.append([r["name"], "–", "skipped", "–", "–", "–", "–", "", r["skipped"]])
            continue
        mark = "★ recommended" if r["name"] == result["recommended"] else ("✓" if r["pareto"] else "")
        out.append([r["name"], human_bytes(r["bytes"]), r["verdict"], f"{r['kl_mean']:.3f}",
                    f"{r['top1_agreement']:.0%}", f"{r['answer_similarity']:.2f}", f"{r['tokens_per_s']:.1f}", mark,
                    r["label"]])
    return out


def best_points(result: dict) -> list[dict]:
    """Find the best's plot: each finished candidate's size against its KL divergence, the Pareto front and the
    recommendation told apart by colour."""
    return [{"size (MB)": round(r["bytes"] / 2**20, 1), "KL divergence": round(r["kl_mean"], 4),
             "candidate": ("recommended: " if r["name"] == result["recommended"] else
                           "on the Pareto front: " if r["pareto"] else "beaten: ") + r["name"],
             "tokens/s": round(r["tokens_per_s"], 1)}
            for r in result["rows"] if not r.get("skipped")]


def best_note(result: dict) -> str:
    done = [r for r in result["rows"] if not r.get("skipped")]
    chosen = next(r for r in done if r["name"] == result["recommended"])
    stopped = " The search was stopped: these are the candidates that finished." if result["stopped"] else ""
    return (f"**Recommended: {chosen['name']}** ({chosen['label']}): {human_bytes(chosen['bytes'])}, "
            f"{chosen['verdict']}, KL divergence {chosen['kl_mean']:.3f}, {chosen['tokens_per_s']:.1f} tokens/s on "
            f"{result['device']}. The rule: {result['rule']}. The Pareto front holds the candidates no other beats "
            f"on size, speed and KL divergence at once.{stopped} Nothing is in your library until you keep a "
            "candidate; the others are deleted (all of them after an hour).")
