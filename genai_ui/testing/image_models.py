"""Image models: the tests' tiny random Stable Diffusion, and a larger random one (the image bench's)."""

from __future__ import annotations

from pathlib import Path

from .cache import _bpe_tokenizer, cached


def build_stable_diffusion(folder: Path, recipe: dict) -> None:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(recipe["seed"])
    blocks = recipe.get("unet_blocks", [32, 64])  # the bench's model is larger: real work for each step
    vae_blocks = recipe.get("vae_blocks", [32, 64])
    attention = ["CrossAttnDownBlock2D"] * (len(blocks) - 1)
    unet = UNet2DConditionModel(block_out_channels=tuple(blocks), layers_per_block=recipe.get("layers", 1),
                                sample_size=recipe["latent"], in_channels=4, out_channels=4, cross_attention_dim=32,
                                attention_head_dim=8, down_block_types=("DownBlock2D", *attention),
                                up_block_types=(*[b.replace("Down", "Up") for b in attention], "UpBlock2D"),
                                norm_num_groups=32)
    vae = AutoencoderKL(block_out_channels=vae_blocks, in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * len(vae_blocks),
                        up_block_types=["UpDecoderBlock2D"] * len(vae_blocks),
                        sample_size=recipe["latent"] * 8, norm_num_groups=32)
    tokenizer = _bpe_tokenizer(recipe["vocab"], [], 77)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer),
        max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, projection_dim=32))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)


def tiny_stable_diffusion() -> Path:
    return cached("tiny-sd", {"seed": 0, "vocab": 300, "latent": 8, "v": 1}, build_stable_diffusion)


def build_sd_ir(folder: Path, recipe: dict) -> None:
    import subprocess
    import sys

    source = cached("bench-sd", recipe["source"], build_stable_diffusion)
    subprocess.run([str(Path(sys.executable).parent / "optimum-cli"), "export", "openvino", "--model", str(source),
                    "--task", "text-to-image", "--weight-format", recipe["weight_format"], str(folder)],
                   check=True, capture_output=True)


def bench_sd_ir() -> Path:
    """A random Stable Diffusion 1.x with a UNet of 128/256/256 channels and an 8x VAE, as an int8 IR: the image
    bench's model, which does real work at every step (the tiny one takes milliseconds)."""
    return cached("bench-sd-int8-ov", {"source": {"seed": 0, "vocab": 300, "latent": 32, "unet_blocks": [128, 256, 256],
                                                  "vae_blocks": [64, 128, 256, 256], "layers": 2, "v": 1},
                                       "weight_format": "int8", "v": 1}, build_sd_ir)
