"""`python -m genai_ui.bench report`: the figures of docs/speed.md and docs/quality.md, made from the benches'
JSON files.

Each bench writes `bench-output/NAME.json` with the machine it ran on. `report --take bench-output`
copies those files into docs/bench/ (kept in git: the figures the pages show) and rewrites every block
of those pages between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` from docs/bench/NAME.json.
The prose around the blocks says what the figures mean; no figure is typed by hand. `report --check`
fails when the page and the files disagree (a unit test runs it).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Callable

from .api import api_table
from .chat import chat_table
from .convert import convert_table
from .engines import engines_table
from .history import history_table
from .image import image_table
from .load import load_table
from .peers import peers_table
from .preflight import preflight_table
from .quality import quality_table
from .tune import tune_table
from .vision import vision_table

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "speed.md"
DOCS = (DOC, ROOT / "docs" / "quality.md")  # the pages with bench blocks
RESULTS = ROOT / "docs" / "bench"
TABLES: dict[str, Callable[[dict], str]] = {
    "chat": chat_table, "api": api_table, "load": load_table, "history": history_table, "vision": vision_table,
    "image": image_table, "convert": convert_table, "engines": engines_table, "tune": tune_table,
    "peers": peers_table, "peers_1_7b": peers_table, "quality": quality_table,
    "preflight": preflight_table}
BLOCK = re.compile(r"(<!-- bench:(\w+) -->\n).*?(<!-- /bench:\2 -->)", re.S)
MARKER = re.compile(r"<!-- /?bench:(\w+) -->")


def machine_line(m: dict | None) -> str:
    if not m:
        return "Measured on a machine the results do not name."
    memory = f", {m['memory_gb']} GB" if m.get("memory_gb") else ""
    version = m["openvino"].split("-")[0]  # 2026.4.1, without the build and branch
    return f"Measured on {m['cpu']} ({m['cores']} cores{memory}), OpenVINO {version}, {m['date']}:"


def block(name: str, results: Path = RESULTS) -> str:
    """What stands between a block's markers: the machine, then the bench's own table (LookupError: no such
    bench, or no results of it)."""
    path = results / f"{name}.json"
    if name not in TABLES:
        raise LookupError(f"A page has a block for {name!r}, which is no bench ({', '.join(TABLES)}).")
    if not path.is_file():
        raise LookupError(f"A page shows {name!r}, but {path} is missing: run `python -m genai_ui.bench "
                          f"{name}`, then `python -m genai_ui.bench report --take bench-output`.")
    try:
        result = json.loads(path.read_text())
        return f"{machine_line(result.get('machine'))}\n\n{TABLES[name](result)}\n"
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise LookupError(f"{path} is not a result of `python -m genai_ui.bench {name}` ({type(err).__name__}: "
                          f"{err}): run the bench again.") from None


def render(text: str, results: Path = RESULTS) -> str:
    """The page with every block made anew from the results (LookupError: a marker without its pair)."""
    paired = [m.group(2) for m in BLOCK.finditer(text)]
    markers = MARKER.findall(text)
    if len(markers) != 2 * len(paired):
        alone = sorted(set(markers) - set(paired)) or sorted({n for n in markers if markers.count(n) != 2})
        raise LookupError(f"a bench block of the page lacks its opening or closing marker: {', '.join(alone)}.")
    return BLOCK.sub(lambda m: m.group(1) + block(m.group(2), results) + m.group(3), text)


def take(source: Path, results: Path = RESULTS) -> list[str]:
    """Copy the benches' new results (`source/NAME.json`) into the folder the page is made from."""
    results.mkdir(parents=True, exist_ok=True)
    taken = []
    for name in TABLES:
        if (source / f"{name}.json").is_file():
            shutil.copyfile(source / f"{name}.json", results / f"{name}.json")
            taken.append(name)
    return taken


def main(take_from: Path | None, check: bool, doc: Path | tuple[Path, ...] = DOCS, results: Path = RESULTS) -> int:
    if take_from is not None and check:
        print("--check only compares the pages with the results they are made from; --take would change them first.")
        return 2
    if take_from is not None:
        taken = take(take_from, results)
        print(f"took {', '.join(taken) or 'nothing'} from {take_from}")
    failed = 0
    for page in (doc,) if isinstance(doc, Path) else doc:
        text = page.read_text()
        try:
            made = render(text, results)
        except LookupError as err:  # a block names no bench or lacks a marker, or its results are missing or broken
            print(f"{page}: {err}")
            failed = 1
            continue
        if check:
            if made != text:
                print(f"{page} does not show the figures of {results}: run `python -m genai_ui.bench report`.")
                failed = 1
            else:
                print(f"{page} shows the figures of {results}.")
        elif made != text:
            page.write_text(made)
            print(f"wrote {page} from {results}")
    return failed
