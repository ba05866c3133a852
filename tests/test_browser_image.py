"""The Image tab in a real browser: type a prompt, watch the steps and previews, get the image; drop a
PNG to restore its parameters. The model is the tiny Stable Diffusion made by the app's own convert path."""

from genai_ui.run.pngmeta import save_png
from tests.models import build_tiny_sd_lora
from tests.pages import cell, set_slider


def test_prompt_progress_image_and_restore(browser, app_url, image_model, tmp_path, output_dir):
    import numpy as np

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = context.new_page()
        page.goto(app_url)
        page.get_by_role("tab", name="Image").click()
        page.locator("#image-model input").click()
        page.get_by_role("option", name=image_model.label()).click()
        page.locator("#image-status").get_by_text("is ready on CPU").wait_for(timeout=60_000)
        assert page.locator("#image-width input[type=number]").input_value() == "64"  # the model's own size

        page.fill("#image-prompt textarea", "a red lighthouse")
        set_slider(page, "image-steps", 60)
        set_slider(page, "image-preview-every", 2)
        page.click("#image-generate")
        page.locator("#image-progress").get_by_text("Step").wait_for(timeout=30_000)  # the steps show as they go
        page.locator("#image-info").get_by_text("60 steps").wait_for(timeout=120_000)
        assert page.locator("#image-gallery img").count() >= 1
        info = page.locator("#image-info").inner_text()
        assert "seed" in info and "64×64" in info
        page.screenshot(path=str(output_dir / "image.png"), full_page=True)

        set_slider(page, "image-steps", 150)  # Cancel: stops inside the engine, keeps nothing
        shown = page.locator("#image-gallery img").count()
        page.click("#image-generate")
        page.locator("#image-progress").get_by_text("Step").wait_for(timeout=30_000)
        page.click("#image-cancel")
        page.locator("#image-info").get_by_text("Cancelled: no image was kept.").wait_for(timeout=30_000)
        assert page.locator("#image-gallery img").count() == shown

        made = save_png(np.zeros((64, 64, 3), np.uint8), tmp_path / "made.png",
                        {"prompt": "a blue boat", "negative_prompt": "fog", "width": 96, "height": 64, "steps": 7,
                         "guidance_scale": 5.0, "seed": 1234, "num_images": 1, "model": image_model.id})
        page.locator("#image-restore input[type=file]").set_input_files(str(made))
        page.locator("#image-info").get_by_text("Restored the parameters of seed 1234").wait_for()
        assert page.locator("#image-prompt textarea").input_value() == "a blue boat"
        assert page.locator("#image-seed input").input_value() == "1234"
        assert page.locator("#image-width input[type=number]").input_value() == "96"

        # a LoRA adapter, with its weight
        lora = build_tiny_sd_lora(tmp_path / "tiny-style.safetensors")
        page.locator("#image-lora-box").click()
        page.locator("#image-lora-files input[type=file]").set_input_files(str(lora))
        cell(page, "#image-lora-weights", "tiny-style.safetensors").wait_for()
        set_slider(page, "image-steps", 4)
        page.click("#image-generate")
        page.locator("#image-info").get_by_text("LoRA tiny-style.safetensors at 1.0").wait_for(timeout=120_000)

        # the model's quality report in the Library tab: its pictures beside its fp16 export's
        page.get_by_role("tab", name="Library").click()
        cell(page, "#library-table", image_model.id).click()
        report = page.locator("#library-selected")
        report.get_by_text("dB PSNR").wait_for()
        pictures = report.locator("table.gu-pictures img")
        assert pictures.count() == 6 and pictures.first.get_attribute("alt") == "before"
        page.wait_for_function("() => [...document.querySelectorAll('#library-selected table.gu-pictures img')]"
                               ".every(img => img.complete && img.naturalWidth > 0)")  # the JPEGs decode
        page.screenshot(path=str(output_dir / "image-quality.png"), full_page=True)
    finally:
        context.close()
