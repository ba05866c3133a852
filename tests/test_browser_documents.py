"""The Documents tab in a real browser: create a collection, add three files (PDF, Word, Markdown) with their
progress, ask, and open the cited passage from its mark in the answer."""

from __future__ import annotations

from genai_ui.testing.documents_eval import CASES
from tests.document_files import write_docx, write_pdf

# the file names a gr.File lists, once its uploads are done
LISTS = "names => names.every(n => document.querySelector('#ID').textContent.replace(/\\s+/g, '').includes(n))"


def test_add_three_files_ask_and_open_the_cited_passage(browser, app_url, tmp_path, output_dir):
    velmora = CASES[0]
    pdf = write_pdf(tmp_path / "velmora.pdf", ["A guide to the island of Quessant.", velmora.text])  # on page 2
    docx = write_docx(tmp_path / "bakery.docx", ["The Tarrow bakery", CASES[1].text])
    md = tmp_path / "river.md"
    md.write_text(f"# Rivers\n\n{CASES[2].text}\n")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(app_url)
        page.get_by_role("tab", name="Documents").click()
        page.locator("#doc-new-name textarea").fill("Browser trip")
        page.click("#doc-create")
        page.locator("#doc-add-status").get_by_text("created: add files to it").wait_for(timeout=30_000)
        assert page.locator("#doc-collection input").input_value() == "Browser trip"

        page.locator("#doc-files input[type=file]").set_input_files([str(pdf), str(docx), str(md)])
        # all three uploaded; the list shows a name's stem and extension apart ("river .md")
        page.wait_for_function(LISTS.replace("ID", "doc-files"), arg=["velmora.pdf", "bakery.docx", "river.md"],
                               timeout=120_000)
        page.click("#doc-add")
        page.locator("#doc-add-status").get_by_text("✓ Added").wait_for(timeout=120_000)
        status = page.locator("#doc-add-status").inner_text()
        assert "velmora.pdf (2 chunks)" in status and "bakery.docx (1 chunks)" in status and "river.md" in status
        table = page.locator("#doc-table").inner_text()
        assert "velmora.pdf" in table and "bakery.docx" in table and "river.md" in table

        # a folder: its documents added, a file of another kind skipped and named
        folder = tmp_path / "folder"
        folder.mkdir()
        (folder / "ferry.txt").write_text(CASES[16].text)
        (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        page.locator("#doc-folder input[type=file]").set_input_files(str(folder))
        page.wait_for_function(LISTS.replace("ID", "doc-folder"), arg=["ferry.txt"], timeout=120_000)
        page.click("#doc-add")
        page.locator("#doc-add-status").get_by_text("Added ferry.txt").wait_for(timeout=120_000)
        assert "Skipped photo.png: not a format read here" in page.locator("#doc-add-status").inner_text()

        page.locator("#doc-question textarea").fill(velmora.question)
        page.click("#doc-ask")
        page.locator("#doc-sources details").first.wait_for(timeout=120_000)
        page.wait_for_function("() => document.querySelector('#doc-sources').innerText.includes('cited')",
                               timeout=120_000)  # the answer is done: its citations are marked
        answer = page.locator("#doc-chatbot .message.bot").last
        assert velmora.answer in answer.inner_text()
        passage = page.locator("#doc-sources details").first
        assert "velmora.pdf, page 2" in passage.inner_text() and not passage.evaluate("d => d.open")
        answer.locator('a[href^="#doc-src-"]').first.click()  # the citation mark opens its passage
        page.wait_for_function("() => document.querySelector('#doc-sources details').open", timeout=10_000)
        assert velmora.text[:40] in passage.inner_text()
        page.screenshot(path=str(output_dir / "documents.png"), full_page=True)
    finally:
        context.close()
