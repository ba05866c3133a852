"""Vision models: the tests' tiny random LLaVA, and a LLaVA on SmolLM2 (the vision bench's)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .cache import _bpe_tokenizer, cached
from .chat_models import smollm2_checkpoint

LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{% if message['role'] == 'user' %} {% else %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}")


def build_llava(folder: Path, recipe: dict) -> None:
    import torch
    from transformers import LlamaConfig

    torch.manual_seed(recipe["seed"])
    tokenizer = _bpe_tokenizer(recipe["vocab"], ["<image>"], 512)
    tokenizer.chat_template = LLAVA_TEMPLATE
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    model = _llava_model(32, text, tokenizer, recipe)
    _save_llava(folder, model, tokenizer, LLAVA_TEMPLATE, recipe, model.generation_config)


def _llava_model(vision_hidden: int, text_config, tokenizer, recipe: dict):
    """A LLaVA with a small random CLIP vision tower (2 layers of `vision_hidden`) before `text_config`."""
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(hidden_size=vision_hidden, intermediate_size=2 * vision_hidden, num_hidden_layers=2,
                              num_attention_heads=4, image_size=recipe["image"], patch_size=recipe["patch"],
                              projection_dim=vision_hidden)
    config = LlavaConfig(vision_config=vision, text_config=text_config,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    return LlavaForConditionalGeneration(config).eval()


def _save_llava(folder: Path, model, tokenizer, template: str, recipe: dict, generation_config) -> None:
    from transformers import CLIPImageProcessor, LlavaProcessor

    model.save_pretrained(folder, safe_serialization=True)
    size = recipe["image"]
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}),
        tokenizer=tokenizer, patch_size=recipe["patch"], vision_feature_select_strategy="default",
        chat_template=template, num_additional_image_tokens=1)
    processor.save_pretrained(folder)
    # Hub LLaVA repos carry the image processor's own file too; openvino_genai reads only that one
    processor.image_processor.save_pretrained(folder)
    generation_config.save_pretrained(folder)


def tiny_llava() -> Path:
    return cached("tiny-llava", {"seed": 0, "vocab": 400, "image": 30, "patch": 6, "v": 2}, build_llava)


SMOL_LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{ '<|im_start|>' + message['role'] + '\n' }}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}"
    "{{ '<image>\n' }}{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def build_smol_llava(folder: Path, recipe: dict) -> None:
    """A LLaVA whose language model is the real SmolLM2-135M-Instruct and whose vision tower is a small
    random CLIP: it decodes at the speed of a real small model (it writes English), so the vision
    bench measures the app against the engine on realistic work, not on a toy's microseconds."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    torch.manual_seed(recipe["seed"])
    source = smollm2_checkpoint()
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    tokenizer.chat_template = SMOL_LLAVA_TEMPLATE
    text = LlamaForCausalLM.from_pretrained(source, dtype=torch.float32)
    text.resize_token_embeddings(len(tokenizer))
    model = _llava_model(64, text.config, tokenizer, recipe)
    model.model.language_model.load_state_dict(text.model.state_dict())
    model.lm_head.weight.data.copy_(text.lm_head.weight.data)
    with torch.no_grad():  # faint image features: random ones of full strength derail the language model
        model.model.multi_modal_projector.linear_2.weight.mul_(recipe["projector_scale"])
        model.model.multi_modal_projector.linear_2.bias.zero_()
    _save_llava(folder, model, tokenizer, SMOL_LLAVA_TEMPLATE, recipe, text.generation_config)


def build_smol_llava_ir(folder: Path, recipe: dict) -> None:
    import subprocess
    import sys

    source = cached("smol-llava", recipe["source"], build_smol_llava)
    subprocess.run([str(Path(sys.executable).parent / "optimum-cli"), "export", "openvino", "--model", str(source),
                    "--task", "image-text-to-text", "--weight-format", recipe["weight_format"], "--group-size",
                    str(recipe["group_size"]), str(folder)], check=True, capture_output=True)
    # optimum with transformers 5 writes the image settings only where VLMPipeline does not read them
    shutil.copyfile(source / "preprocessor_config.json", folder / "preprocessor_config.json")


def smol_llava_ir() -> Path:
    """The SmolLM2 LLaVA as an int4 OpenVINO IR (the vision bench's model)."""
    return cached("smol-llava-int4-ov", {"source": {"seed": 0, "image": 224, "patch": 14, "projector_scale": 0.02,
                                                                    "v": 1},
                                         "weight_format": "int4", "group_size": 64, "v": 1}, build_smol_llava_ir)
