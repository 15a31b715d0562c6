"""Wan2.1 model directories built from configs in code (random weights, no hub), in diffusers layout.

``build_tiny_wan`` makes a few-MB stand-in that tests load through the real loader; the full-size configs are
the facts of Wan2.1-T2V-1.3B (used by the GPU benchmark with random weights).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

# Wan2.1-T2V-1.3B transformer (diffusers names)
WAN21_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                  out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                  qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None,
                  rope_max_seq_len=1024)
WAN21_VAE: dict = {}  # diffusers' AutoencoderKLWan defaults are the Wan2.1 VAE

TINY_TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16,
                        out_channels=16, text_dim=32, freq_dim=32, ffn_dim=64, num_layers=2, cross_attn_norm=True,
                        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=256)
# head dim a multiple of 6: Wan's RoPE splits a head 2*(d//6) / d//3 per axis, which agree only then (1.3B: 128
# does not divide by 6 yet agrees; 16 does not), so parity tests against other Wan code use this config
PARITY_TRANSFORMER = dict(TINY_TRANSFORMER, attention_head_dim=24)
TINY_VAE = dict(base_dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1, attn_scales=[],
                temperal_downsample=[False, True, True],
                latents_mean=[round(-0.4 + 0.05 * i, 3) for i in range(16)],
                latents_std=[round(0.6 + 0.1 * i, 3) for i in range(16)])
TINY_T5 = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
               relative_attention_max_distance=32, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
               decoder_start_token_id=0)
# Wan2.1's text encoder: the encoder of umT5-XXL (its text_encoder/config.json), for random-weight GPU benchmarks
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False)
_WORDS = ("a photorealistic scene steady camera motion high detail blurry distorted low quality static watermark "
          "the of and in on with forest city street room mountain river sky light night day house tree road")


def _model_index(tokenizer_class: str) -> dict:
    return {"_class_name": "WanPipeline", "_diffusers_version": "0.35.0",
            "scheduler": ["diffusers", "UniPCMultistepScheduler"],
            "text_encoder": ["transformers", "UMT5EncoderModel"],
            "tokenizer": ["transformers", tokenizer_class],
            "transformer": ["diffusers", "WanTransformer3DModel"],
            "vae": ["diffusers", "AutoencoderKLWan"]}


def save_scheduler(out: Path, flow_shift: float = 3.0) -> None:
    from diffusers import UniPCMultistepScheduler

    UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
                            flow_shift=flow_shift).save_pretrained(out / "scheduler")


def save_tiny_text(out: Path, t5: dict = TINY_T5, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32) -> None:
    """A word-level T5-style tokenizer (pad 0, eos 1, unk 2; eos appended) and a UMT5 encoder of the sizes ``t5``
    (tiny by default; ``UMT5_XXL`` for Wan's own, whose larger vocabulary only adds rows no word maps to)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in _WORDS.split():
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=4096)
    fast.save_pretrained(out / "tokenizer")
    config = UMT5Config(**{"vocab_size": len(vocab), **t5})
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in its dtype: umT5-XXL's encoder in float32 first would need 23 GB
    try:
        with torch.device(device):
            UMT5EncoderModel(config).save_pretrained(out / "text_encoder")
    finally:
        torch.set_default_dtype(default)


def build_wan_dir(out: str | Path, transformer_cfg: dict, vae_cfg: dict, *, seed: int = 0,
                  dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                  text: bool = True) -> Path:
    """Random-initialised transformer + VAE (+ tiny text encoder/tokenizer) + scheduler saved in diffusers layout."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    with torch.device(device):
        transformer = WanTransformer3DModel(**transformer_cfg)
        if dtype != torch.float32:  # halves the file; loading with torch_dtype restores the fp32-kept modules
            transformer = transformer.to(dtype)
        transformer.save_pretrained(out / "transformer")
        del transformer
        AutoencoderKLWan(**vae_cfg).save_pretrained(out / "vae")
    save_scheduler(out)
    if text:
        save_tiny_text(out)
    (out / "model_index.json").write_text(json.dumps(_model_index("PreTrainedTokenizerFast"), indent=2))
    return out


def build_tiny_wan(out: str | Path, seed: int = 0) -> Path:
    """The tiny stand-in of Wan2.1-T2V-1.3B-Diffusers (a few MB) at ``out``."""
    return build_wan_dir(out, TINY_TRANSFORMER, TINY_VAE, seed=seed)
