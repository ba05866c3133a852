"""The heavy steps of a conversion, each run as `python -m genai_ui.convert.worker <step> …` in a
subprocess of its own: the app's memory never holds a model being converted, and Cancel ends
the step's whole process group.

  export    optimum-cli's export at 16 bits, then (in the same process, as optimum-cli does) its
            compression step with all its options (AWQ, scale estimation, calibration datasets)
            into another folder, so that the 16-bit export stays as the quality check's reference
  quantize  only that compression step, on an exported IR
  compress  compress any IR folder with NNCF directly (data-free), into another folder
  gguf-ir   turn a GGUF into an IR with openvino_genai's own GGUF reader
  verify    load a model in its openvino_genai pipeline and run a tiny prompt

Errors end with exit code 2 and one line on stderr that starts with "error: ".
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ..tasks import TASKS


def link_all(source: Path, target: Path) -> None:
    """Every file of `source` in `target` too, hard-linked (no second copy on disk); a step that
    rewrites a model file unlinks it first, so the source stays whole."""
    import os

    for f in source.rglob("*"):
        dest = target / f.relative_to(source)
        if f.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, dest)
            except OSError:
                shutil.copy2(f, dest)


def copy_missing(source: Path, target: Path) -> None:
    """Tokenizers, configs and the like: what a step does not write itself."""
    for f in source.rglob("*"):
        dest = target / f.relative_to(source)
        if f.is_file() and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)


def quantize(source: str, reference: Path, output: Path, task: str, config: dict, trust_remote_code: bool) -> None:
    import optimum.intel as oi
    from optimum.exporters.openvino.__main__ import infer_task
    from optimum.intel.openvino.utils import _HEAD_TO_AUTOMODELS

    diffusers = any(t.export_task == task and t.named_by == "diffusers" for t in TASKS.values())
    if diffusers:
        from diffusers import DiffusionPipeline

        model_cls = getattr(oi, "OV" + DiffusionPipeline.load_config(str(reference))["_class_name"])
    else:
        task = infer_task(task, source, library_name="transformers")
        model_cls = getattr(oi, _HEAD_TO_AUTOMODELS[task.replace("-with-past", "")])
    link_all(reference, output)  # optimum replaces the model files it compresses, and needs them there
    model = model_cls.from_pretrained(reference, compile=False, trust_remote_code=trust_remote_code,
                                      **({} if diffusers else {"use_cache": task.endswith("with-past")}))
    # the call optimum-cli makes after its export (optimum/exporters/openvino/__main__.py, _main_quantize),
    # saving into another folder so that the uncompressed reference stays whole for the quality check
    model._apply_quantization(config, compile_only=False, compile_model=False, model_name_or_path=source,
                              trust_remote_code=trust_remote_code, save_directory=output, immediate_save=True)


STAGE = "genai_ui: stage "  # a line that tells the app the step moved on


def export(source: str, reference: Path, task: str, weight_format: str, trust_remote_code: bool,
           output: Path | None, config: dict | None) -> None:
    from optimum.commands.optimum_cli import main as optimum_cli

    sys.argv = ["optimum-cli", "export", "openvino", "--model", source, "--task", task, "--weight-format",
                weight_format, str(reference)] + (["--trust-remote-code"] if trust_remote_code else [])
    optimum_cli()
    if config is not None and output is not None:
        print(f"{STAGE}Compress", flush=True)
        quantize(source, reference, output, task, config, trust_remote_code)


NNCF_MODES = {("int8", False): "INT8_ASYM", ("int8", True): "INT8_SYM", ("int4", False): "INT4_ASYM",
              ("int4", True): "INT4_SYM", ("nf4", False): "NF4", ("mxfp4", False): "MXFP4", ("cb4", False): "CB4"}


def compress(source: Path, output: Path, config: dict) -> None:
    import nncf
    import openvino as ov

    mode = getattr(nncf.CompressWeightsMode, NNCF_MODES[(config["dtype"], bool(config.get("sym")))])
    four_bit = config["bits"] == 4
    core = ov.Core()
    models = [x for x in source.rglob("*.xml") if "tokenizer" not in x.name]
    for i, xml in enumerate(models, 1):
        print(f"Compressing {xml.relative_to(source)} ({i} of {len(models)})", flush=True)
        model = nncf.compress_weights(core.read_model(xml), mode=mode,
                                      ratio=config.get("ratio") if four_bit else None,
                                      group_size=config.get("group_size") if four_bit else None,
                                      all_layers=config.get("all_layers"))
        target = output / xml.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, target)
        del model
    copy_missing(source, output)


def gguf_ir(gguf: Path, output: Path) -> None:
    """openvino_genai writes the IR it builds from a GGUF beside the GGUF; move it to `output`."""
    import openvino_genai as og

    work = output / ".gguf"
    work.mkdir(parents=True)
    (work / gguf.name).symlink_to(gguf.resolve())
    print(f"Reading {gguf.name} with openvino_genai", flush=True)
    og.LLMPipeline(str(work / gguf.name), "CPU", enable_save_ov_model=True)
    for f in work.iterdir():
        if f.suffix in (".xml", ".bin"):
            f.rename(output / f.name)
    shutil.rmtree(work)


def answer_llm(model: Path, device: str) -> str:
    import openvino_genai as og

    pipe = og.LLMPipeline(str(model), device)
    return pipe.generate(og.ChatHistory([{"role": "user", "content": "Say hello."}]), max_new_tokens=8,
                         do_sample=False).texts[0]


def answer_vlm(model: Path, device: str) -> str:
    import numpy as np
    import openvino as ov
    import openvino_genai as og

    pipe = og.VLMPipeline(str(model), device)
    image = ov.Tensor(np.full((1, 64, 64, 3), 128, dtype=np.uint8))
    return pipe.generate("Describe this image.", images=[image], max_new_tokens=8, do_sample=False).texts[0]


def draw_image(model: Path, device: str) -> str:
    import openvino_genai as og

    pipe = og.Text2ImagePipeline(str(model), device)
    tensor = pipe.generate("a red square", width=64, height=64, num_inference_steps=1, rng_seed=0)
    return f"an image of {tensor.shape[2]}x{tensor.shape[1]}"


def verify(model: Path, task: str, device: str) -> None:
    """The task's own check (its row in tasks.py names it): the model loads and answers."""
    from ..tasks import task as row

    print(json.dumps({"verified": True, "output": row(task).check(model, device)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genai_ui.convert.worker")
    steps = parser.add_subparsers(dest="step", required=True)
    e = steps.add_parser("export")
    e.add_argument("--source", required=True)
    e.add_argument("--reference", type=Path, required=True)
    e.add_argument("--task", required=True)
    e.add_argument("--weight-format", default="fp16")
    e.add_argument("--output", type=Path)
    e.add_argument("--config", help="the quantization config, as JSON; none: no compression")
    e.add_argument("--trust-remote-code", action="store_true")
    q = steps.add_parser("quantize")
    q.add_argument("--source", required=True)
    q.add_argument("--reference", type=Path, required=True)
    q.add_argument("--output", type=Path, required=True)
    q.add_argument("--task", required=True)
    q.add_argument("--config", required=True, help="the quantization config, as JSON")
    q.add_argument("--trust-remote-code", action="store_true")
    c = steps.add_parser("compress")
    c.add_argument("--source", type=Path, required=True)
    c.add_argument("--output", type=Path, required=True)
    c.add_argument("--config", required=True)
    g = steps.add_parser("gguf-ir")
    g.add_argument("--gguf", type=Path, required=True)
    g.add_argument("--output", type=Path, required=True)
    v = steps.add_parser("verify")
    v.add_argument("--model", type=Path, required=True)
    v.add_argument("--task", required=True)
    v.add_argument("--device", default="CPU")
    args = parser.parse_args(argv)
    try:
        if args.step == "export":
            export(args.source, args.reference, args.task, args.weight_format, args.trust_remote_code, args.output,
                   json.loads(args.config) if args.config else None)
        elif args.step == "quantize":
            quantize(args.source, args.reference, args.output, args.task, json.loads(args.config),
                     args.trust_remote_code)
        elif args.step == "compress":
            compress(args.source, args.output, json.loads(args.config))
        elif args.step == "gguf-ir":
            gguf_ir(args.gguf, args.output)
        else:
            verify(args.model, args.task, args.device)
    except Exception as err:  # one line for the app to show; the log has the rest
        import traceback

        traceback.print_exc()
        print(f"error: {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}",
              file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
