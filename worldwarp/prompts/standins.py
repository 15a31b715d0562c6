"""A tiny random-initialised Qwen2.5-VL directory built from configs in code (no hub): the model, a byte-level
BPE tokenizer trained on a few sentences (with Qwen's special tokens and chat template) and the image processor's
preprocessor_config.json, saved in transformers' layout so tests load it through ``Captioner.from_pretrained``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

# Qwen2.5-VL's special tokens, in the order of the released tokenizer (ids follow the trained vocabulary here)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]

# Qwen2-VL / Qwen2.5-VL's chat template: an image content item becomes <|vision_start|><|image_pad|><|vision_end|>
# (the processor expands <|image_pad|> to one token per merged patch)
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "a photorealistic scene, steady camera motion, high detail",
    "a quiet harbour at dusk with wooden boats and warm lantern light",
    "a sunlit living room with a grey sofa, a wooden table and plants by the window",
    "a garden path between green hedges, soft morning light, gravel and stone",
    "Describe this scene as a prompt for a video generator: the setting, the main objects and their materials, "
    "the lighting and the style, in one or two sentences. Do not mention camera motion.",
    "You are a helpful assistant. system user assistant",
]

# Vision tower: 4px patches, 2x2 merge, 2-frame temporal patches -> one image token per 8x8 pixels
PATCH, MERGE, TEMPORAL = 4, 2, 2
MIN_PIXELS, MAX_PIXELS = (PATCH * MERGE) ** 2 * 4, (PATCH * MERGE) ** 2 * 16  # 16x16 .. 32x32 px: 4..16 tokens
HIDDEN = 32


def build_tokenizer(vocab_size: int = 320):
    """A Qwen2 byte-level BPE tokenizer (Qwen's pre-tokenizer regex) trained on CORPUS, with the special tokens
    and chat template Qwen2.5-VL's processor needs."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    state = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    qt = Qwen2Tokenizer(vocab=state["vocab"], merges=merges, unk_token=None, eos_token="<|im_end|>",
                        pad_token="<|endoftext|>", model_max_length=4096)
    qt.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    qt.chat_template = CHAT_TEMPLATE
    return qt


# Tiny sizes of the model (vocab and token ids come from the tokenizer) and of its image processor
TINY_VISION = dict(depth=2, hidden_size=HIDDEN, intermediate_size=64, num_heads=2, patch_size=PATCH,
                   spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL, window_size=PATCH * MERGE * 2,
                   out_hidden_size=HIDDEN, fullatt_block_indexes=[1], tokens_per_second=2)
TINY_TEXT = dict(hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, max_position_embeddings=4096,
                 rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]})
TINY_IMAGE = dict(patch_size=PATCH, temporal_patch_size=TEMPORAL, merge_size=MERGE, min_pixels=MIN_PIXELS,
                  max_pixels=MAX_PIXELS)
# Qwen2.5-VL-7B-Instruct's sizes (its config.json and preprocessor_config.json), for random-weight GPU benchmarks
QWEN25_VL_7B_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=112, out_hidden_size=3584,
                           fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2)
QWEN25_VL_7B_TEXT = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                         num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]})
QWEN25_VL_7B_IMAGE = dict(patch_size=14, temporal_patch_size=2, merge_size=2, min_pixels=3136, max_pixels=12845056)


def build_tiny_qwen2_5_vl(out: str | Path, *, seed: int = 0) -> Path:
    """Save a tiny Qwen2_5_VLForConditionalGeneration (2 text + 2 vision layers, hidden 32), its tokenizer and
    its image processor config into ``out``. Greedy decoding of the random model writes max_new_tokens ordinary
    tokens: a non-empty, printable caption that depends on the image."""
    return build_qwen2_5_vl_dir(out, TINY_TEXT, TINY_VISION, TINY_IMAGE, seed=seed)


def build_qwen2_5_vl_dir(out: str | Path, text: dict, vision: dict, image: dict, *, seed: int = 0,
                         device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> Path:
    """A random Qwen2.5-VL of these sizes with the small trained tokenizer. A ``text['vocab_size']`` above the
    tokenizer's (the real model's) only adds rows no text maps to; they are silenced like the special tokens."""
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = dict(text, vocab_size=max(len(tok), text.get("vocab_size", 0)), bos_token_id=ids["<|endoftext|>"],
                eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                           video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                           vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    torch.manual_seed(seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in its dtype: a 7B model in float32 first would need twice the memory
    try:
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(cfg).eval()
    finally:
        torch.set_default_dtype(default)
    _silence(model, tok, ids)
    model.generation_config = GenerationConfig(bos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"],
                                               eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]])
    model.save_pretrained(out)
    tok.save_pretrained(out)
    _save_image_processor(out, image)
    return out


def _silence(model, tok, ids: dict) -> None:
    """Special tokens, tokens that are not printable ASCII on their own (lone UTF-8 bytes, newlines) and rows past
    the tokenizer get zero output rows: the random model then writes readable text that never ends early."""
    quiet = [i for t, i in tok.get_vocab().items()
             if t in ids or not (s := tok.convert_tokens_to_string([t])).isascii() or not s.isprintable()]
    with torch.no_grad():
        model.lm_head.weight[quiet] = 0.0
        model.lm_head.weight[len(tok):] = 0.0


def _save_image_processor(out: Path, image: dict) -> None:
    # written directly (the keys Qwen2VLImageProcessor saves): no torchvision needed to build it
    (out / "preprocessor_config.json").write_text(json.dumps(dict(
        image_processor_type="Qwen2VLImageProcessor", processor_class="Qwen2_5_VLProcessor", do_resize=True,
        resample=3, do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
        do_convert_rgb=True, size={"shortest_edge": image["min_pixels"], "longest_edge": image["max_pixels"]},
        **image), indent=2))
