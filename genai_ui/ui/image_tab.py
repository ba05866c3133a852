"""The Image tab: generate images from a prompt, watch them form, reproduce them from their PNGs."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from html import escape
from io import BytesIO
from pathlib import Path

import gradio as gr

from ..access import Caller
from ..engines.pictures import MAX_EDIT_PIXELS, open_image
from ..errors import Cancelled, UserError
from ..run.image import MAX_SIDE, TASK, ImageParams, ImageResult
from ..run.pngmeta import read_png_parameters
from ..services import Services
from .caller import caller_of
from .chat_session import waiting_text
from .errors import error_html, to_gr_error, user_errors
from .outputs import save_pngs
from .pickers import RunTab, model_choices, refresh_picker


class ImageSession:
    """One browser session's results (newest first) and its Cancel."""

    def __init__(self, gallery: list | None = None) -> None:
        self.gallery: list[tuple[str, str]] = gallery or []  # (PNG path, caption)
        self.cancel = threading.Event()

    def __deepcopy__(self, memo) -> "ImageSession":
        return ImageSession(list(self.gallery))


def refresh_image_models(services: Services, current: str | None, caller: Caller):
    return refresh_picker(services, TASK, current, caller)


NO_MODEL = ("No image model in the library yet. Find one in the **Hub** tab (task *Image*, OpenVINO-ready), "
            "or turn a Diffusers checkpoint into one in the **Convert** tab.")


def lora_rows(files: list[str] | None, weights) -> list[list]:
    """A row per LoRA file, keeping the weights already set (1.0 for a new one)."""
    known = {row[0]: row[1] for row in _rows(weights)}
    names = [Path(f).name for f in files or []]
    return [[name, known.get(name, 1.0)] for name in names]


def loras_of(files: list[str] | None, weights) -> dict[str, float]:
    """LoRA file -> weight, from the file list and the weights table."""
    known = {row[0]: row[1] for row in _rows(weights)}
    out = {}
    for path in files or []:
        weight = known.get(Path(path).name, 1.0)
        try:
            out[path] = float(weight)
        except (TypeError, ValueError):
            raise UserError(f"The weight of {Path(path).name} must be a number, not {weight!r}.") from None
    return out


def _rows(table) -> list:
    if table is None:
        return []
    if hasattr(table, "values"):  # a pandas DataFrame
        return [list(r) for r in table.values.tolist()]
    return [list(r) for r in table]


class StartImageEditor(gr.ImageEditor):
    """Gradio's ImageEditor, refusing a decompression bomb before Gradio decodes it: it decodes each image
    it is sent (background, painted layer, composite) in full before the handler runs."""

    is_template = True  # drawn by the ImageEditor's own frontend

    def convert_and_format_image(self, file, flatten_on_white: bool = False):
        if file is not None:
            source = file.path if isinstance(file, gr.FileData) else BytesIO(file)
            name = (file.orig_name if isinstance(file, gr.FileData) else "") or "the start image"
            try:
                open_image(source, name=name, limit=MAX_EDIT_PIXELS).close()
            except UserError as err:
                raise to_gr_error(err) from None
        return super().convert_and_format_image(file, flatten_on_white)


def start_of(value: dict | None):
    """(Picture, mask or None) from the editor: the painted strokes are the mask; (None, None) when empty."""
    import numpy as np

    from ..engines.pictures import Picture

    background = (value or {}).get("background")
    if background is None or not np.asarray(background).size:
        return None, None
    pixels = np.asarray(background)
    rgb = pixels[..., :3] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    picture = Picture(name="start image", original_size=(rgb.shape[1], rgb.shape[0]),
                      pixels=np.ascontiguousarray(rgb, dtype=np.uint8))
    strokes = [np.asarray(layer) for layer in (value.get("layers") or []) if layer is not None]
    painted = [layer[..., 3] > 0 for layer in strokes if layer.ndim == 3 and layer.shape[2] == 4]
    mask = np.logical_or.reduce(painted) if painted and np.logical_or.reduce(painted).any() else None
    return picture, mask


def step_bar(step: int, steps: int, elapsed: float) -> str:
    left = elapsed / step * (steps - step) if step else 0.0
    return (f'<div class="gu-progress"><div class="gu-progress-label">Step {step} of {steps} · {elapsed:.1f} s · '
            f'about {left:.1f} s left</div><progress max="1" value="{step / steps:.4f}"></progress></div>')


@dataclass(frozen=True)
class _Parts:
    """Every component of the tab, as _layout places them."""
    session: gr.State
    generate: gr.Button
    cancel: gr.Button
    progress: gr.HTML
    preview: gr.Image
    gallery: gr.Gallery
    info: gr.Markdown
    start: StartImageEditor
    strength: gr.Slider
    model: gr.Dropdown
    status: gr.Markdown
    device: gr.Dropdown
    dice: gr.Button
    reuse: gr.Button
    preview_every: gr.Slider
    lora_files: gr.File
    lora_weights: gr.Dataframe
    restore: gr.File
    last_seed: gr.State
    fields: tuple  # prompt, negative prompt, width, height, steps, guidance, seed, count: ImageParams' order


def build_image_tab(services: Services) -> RunTab:
    c = _layout(services)
    _wire(services, c)
    return RunTab(model=c.model, pick=lambda current, caller: refresh_image_models(services, current, caller))


def _layout(services: Services) -> _Parts:
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=2, elem_id="image-prompt",
                                placeholder="A lighthouse on a cliff at sunset, oil painting")
            negative = gr.Textbox(label="Negative prompt", lines=1, elem_id="image-negative",
                                  placeholder="blurry, low quality")
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", elem_id="image-generate")
                cancel = gr.Button("Cancel", variant="stop", visible=False, elem_id="image-cancel")
            progress = gr.HTML(elem_id="image-progress")
            with gr.Row():
                preview = gr.Image(label="Forming", type="numpy", interactive=False, height=320,
                                   elem_id="image-preview", buttons=[])
                gallery = gr.Gallery(label="This session's images (each PNG carries its parameters)", columns=3,
                                     height=320, format="png", type="filepath", elem_id="image-gallery",
                                     buttons=["download", "fullscreen"])
            info = gr.Markdown(elem_id="image-info")
            with gr.Accordion("Start from an image: image to image, or paint where to repaint (inpainting)",
                              open=False, elem_id="image-start-box"):
                start = StartImageEditor(type="numpy", sources=["upload", "clipboard"], layers=False, transforms=(),
                                         brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"), height=320,
                                         label="Start image; paint over a part to repaint only that part",
                                         elem_id="image-start")
                strength = gr.Slider(0.05, 1.0, value=0.75, step=0.05, label="Strength (1: replace it all)",
                                     elem_id="image-strength")
        with gr.Column(scale=2):
            choices = model_choices(services, TASK)
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model",
                                elem_id="image-model")
            status = gr.Markdown("" if choices else NO_MODEL, elem_id="image-status")
            device = gr.Dropdown([(d.name, d.id) for d in services.devices.list()], value=services.devices.default,
                                 label="Device", elem_id="image-device")
            with gr.Row():
                width = gr.Slider(64, MAX_SIDE, value=512, step=8, label="Width", elem_id="image-width")
                height = gr.Slider(64, MAX_SIDE, value=512, step=8, label="Height", elem_id="image-height")
            steps = gr.Slider(1, 150, value=20, step=1, label="Steps", elem_id="image-steps")
            guidance = gr.Slider(0.0, 30.0, value=7.5, step=0.5, label="Guidance scale", elem_id="image-guidance")
            with gr.Row(equal_height=True):
                seed = gr.Number(value=-1, precision=0, label="Seed (-1: random)", elem_id="image-seed", scale=3)
                dice = gr.Button("Random", scale=0, min_width=72, elem_id="image-dice")
                reuse = gr.Button("Last seed", scale=0, min_width=84, elem_id="image-reuse")
            count = gr.Slider(1, 8, value=1, step=1, label="Images", elem_id="image-count")
            preview_every = gr.Slider(0, 50, value=5, step=1, label="Preview every N steps (0: none)",
                                      elem_id="image-preview-every")
            with gr.Accordion("LoRA adapters", open=False, elem_id="image-lora-box"):
                lora_files = gr.File(label="LoRA .safetensors files (adding or removing one reloads the model)",
                                     file_count="multiple", file_types=[".safetensors"], type="filepath", height=90,
                                     elem_id="image-lora-files")
                lora_weights = gr.Dataframe(headers=["adapter", "weight"], datatype=["str", "number"],
                                            value=[], interactive=True, label="Weight of each (0: off)",
                                            elem_id="image-lora-weights")
            restore = gr.File(label="Drop a PNG made here (or by AUTOMATIC1111) to restore its parameters",
                              file_types=[".png"], type="filepath", height=90, elem_id="image-restore")
    return _Parts(gr.State(ImageSession()), generate, cancel, progress, preview, gallery, info, start, strength, model,
                  status, device, dice, reuse, preview_every, lora_files, lora_weights, restore, gr.State(-1),
                  (prompt, negative, width, height, steps, guidance, seed, count))


def _wire(services: Services, c: _Parts) -> None:
    """The tab's events; each handler returns {component: update}."""
    prompt, _, width, height, _, _, seed, _ = c.fields

    @user_errors
    def on_generate(state: ImageSession, model_id, device_id, every, start_value, start_strength, files, weights,
                    request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None, *values):
        state.cancel = threading.Event()
        caller = caller_of(services.settings, request, profile, oauth)
        running = {c.generate: gr.Button(visible=False), c.cancel: gr.Button(visible=True)}
        idle = {c.generate: gr.Button(visible=True), c.cancel: gr.Button(visible=False)}
        try:
            params = ImageParams(prompt=values[0], negative_prompt=values[1] or "", width=int(values[2]),
                                 height=int(values[3]), steps=int(values[4]), guidance_scale=float(values[5]),
                                 seed=int(values[6] if values[6] is not None else -1), num_images=int(values[7]))
            waiting = waiting_text(services, TASK, model_id, device_id, services.images.model_id, caller)
            yield {c.progress: f"<div>{'Starting…' if waiting == '…' else waiting.strip('*')}</div>",
                   c.preview: None, **running}
            result = None
            image, mask = start_of(start_value)
            for event in services.images.generate(params=params, model=model_id or "", device=device_id or "",
                                                  preview_every=int(every or 0), image=image, mask=mask,
                                                  strength=float(start_strength), loras=loras_of(files, weights),
                                                  cancel=state.cancel, caller=caller):
                if isinstance(event, ImageResult):
                    result = event
                else:
                    yield {c.progress: step_bar(event.step, event.steps, event.elapsed_s),
                           **({} if event.preview is None else {c.preview: event.preview})}
            paths = save_pngs(result)
            caption = f"seed {result.params.seed}"
            state.gallery = [(p, caption) for p in paths] + state.gallery
            yield {**idle, c.progress: "", c.preview: result.images[0], c.gallery: state.gallery,
                   c.info: f"✓ {escape(result.summary())}", c.last_seed: result.params.seed}
        except Cancelled as err:  # asked for: said in the tab, no error box
            yield {**idle, c.progress: "", c.preview: None, c.info: str(err)}
        except Exception as err:
            yield {**idle, c.progress: "", c.info: error_html(err) if isinstance(err, UserError) else ""}
            raise

    def on_cancel(state: ImageSession) -> None:
        state.cancel.set()

    def on_pick(model_id: str | None, device_id: str | None, request: gr.Request, profile: gr.OAuthProfile | None,
                oauth: gr.OAuthToken | None):
        """Load at once, and take the model's own size: a model that cannot run says so now."""
        if not model_id:
            yield {c.status: NO_MODEL}
            return
        yield {c.status: f"Loading **{model_id}** on {device_id or services.devices.default}…"}
        try:
            loaded = services.images.load(model=model_id, device=device_id or "",
                                          caller=caller_of(services.settings, request, profile, oauth))
        except UserError as err:
            yield {c.status: error_html(err)}
            return
        size, step = min(max(loaded.pipeline.default_size, 64), MAX_SIDE), loaded.pipeline.size_step
        yield {c.status: f"✓ **{loaded.entry.id}** is ready on {loaded.device} "
                         f"(loaded in {loaded.load_ms / 1000:.1f} s); made for {size}×{size}, "
                         f"sizes in steps of {step}.",
               width: gr.Slider(value=size, step=step), height: gr.Slider(value=size, step=step)}

    def on_restore(path: str | None, request: gr.Request, profile: gr.OAuthProfile | None,
                   oauth: gr.OAuthToken | None):
        if not path:
            return gr.skip()
        try:
            found = read_png_parameters(path)
        except UserError as err:
            return {c.info: error_html(err)}
        if not found:
            return {c.info: error_html("This PNG carries no generation parameters.")}
        names = ["prompt", "negative_prompt", "width", "height", "steps", "guidance_scale", "seed", "num_images"]
        kinds = [str, str] + [(int, float)] * 6  # a value of another type (a hand-edited chunk) is left as it is
        updates = {field: found[name] for field, name, kind in zip(c.fields, names, kinds)
                   if isinstance(found.get(name), kind) and not isinstance(found[name], bool)}
        note = f"Restored the parameters of seed {escape(str(found.get('seed')))}"
        seen = services.access.list(caller_of(services.settings, request, profile, oauth), TASK)
        if found.get("model") and found["model"] not in [e.id for e in seen]:
            note += f" (made with {escape(str(found['model']))}, which is not in this library)"
        return {**updates, c.info: note + "."}

    outputs = [c.progress, c.preview, c.gallery, c.info, c.last_seed, c.generate, c.cancel]
    inputs = [c.session, c.model, c.device, c.preview_every, c.start, c.strength, c.lora_files, c.lora_weights,
              *c.fields]
    c.generate.click(on_generate, inputs, outputs, api_visibility="private", show_progress="hidden")
    prompt.submit(on_generate, inputs, outputs, api_visibility="private", show_progress="hidden")
    c.cancel.click(on_cancel, [c.session], None, queue=False, api_visibility="private")
    c.dice.click(lambda: -1, None, seed, queue=False, api_visibility="private")
    c.reuse.click(lambda last: last, c.last_seed, seed, queue=False, api_visibility="private")
    for picker in (c.model.input, c.device.input):
        picker(on_pick, [c.model, c.device], [c.status, width, height], api_visibility="private",
               show_progress="hidden")
    c.lora_files.change(lambda files, weights: lora_rows(files, weights), [c.lora_files, c.lora_weights],
                        c.lora_weights, queue=False, api_visibility="private")
    # in the queue: reading a large dropped file must not hold up the server's event loop
    c.restore.upload(on_restore, c.restore, [*c.fields, c.info], queue=True, api_visibility="private")
