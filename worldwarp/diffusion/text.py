"""Prompt embeddings of the UMT5 text encoder, computed once per prompt and cached on disk.

The encoder of Wan2.1 (umt5-xxl) is ~11 GB in bf16: it is loaded only when a prompt is not cached yet, and freed
right after encoding unless asked to keep it. Embeddings follow Wan: tokens padded to ``text_len``, the encoder's
output kept for the real tokens and zeroed after them.
"""

from __future__ import annotations

import gc
import hashlib
import html
import json
import os
import re
from pathlib import Path

import torch

from .checkpoint import CheckpointError


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "worldwarp" / "prompts"


def clean_prompt(text: str) -> str:
    # Wan also runs ftfy; plain unescaping and whitespace folding cover ordinary prompts without that dependency
    return re.sub(r"\s+", " ", html.unescape(html.unescape(text))).strip()


def _encoder_identity(model_dir: Path) -> str:
    """Changes whenever the text encoder or tokenizer files change (config text, weight sizes and mtimes)."""
    parts = []
    for sub in ("text_encoder", "tokenizer"):
        for f in sorted((model_dir / sub).glob("*")):
            st = f.stat()
            parts.append(f"{sub}/{f.name}:{st.st_size}:{int(st.st_mtime)}")
    return "|".join(parts)


class PromptEncoder:
    """Maps a prompt to its (text_len, dim) embedding: memory, then disk cache, then the encoder."""

    def __init__(self, model_dir: str | Path | None, cache_dir: str | Path | None = None, text_len: int = 512,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, keep_encoder: bool = False,
                 quantize: str = "none"):
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.text_len, self.device, self.dtype, self.keep_encoder = text_len, torch.device(device), dtype, keep_encoder
        self.quantize = quantize  # "int8": the encoder's linear layers in int8 (worldwarp/quantize.py)
        self._memory: dict[str, torch.Tensor] = {}
        self._encoder = self._tokenizer = None
        self.encoder_loads = 0  # tells tests and logs whether the big model was touched

    def put(self, prompt: str, embeds: torch.Tensor) -> None:
        """Use these embeddings for ``prompt`` (e.g. random ones of the right shape in a benchmark)."""
        self._memory[clean_prompt(prompt)] = embeds.detach().to("cpu", torch.float32)

    def __call__(self, prompt: str) -> torch.Tensor:
        return self.many([prompt])[0]

    def many(self, prompts: list[str]) -> list[torch.Tensor]:
        """Embeddings of several prompts; the encoder is loaded at most once for all the uncached ones."""
        keys = [clean_prompt(p) for p in prompts]
        try:
            for key in keys:
                if key not in self._memory:
                    self._memory[key] = self._from_disk_or_encode(key)
        finally:
            if not self.keep_encoder:
                self.release()
        return [self._memory[k] for k in keys]

    def _cache_file(self, prompt: str) -> Path:
        ident = _encoder_identity(self.model_dir) if self.model_dir else "none"
        # int8 embeddings differ from exact ones, so they get their own files; exact ones keep the names they had
        how = [] if self.quantize == "none" else [self.quantize]
        h = hashlib.sha256(json.dumps([ident, str(self.model_dir), self.text_len, prompt, *how]).encode()).hexdigest()
        return self.cache_dir / f"{h[:32]}.safetensors"

    def _from_disk_or_encode(self, prompt: str) -> torch.Tensor:
        from safetensors import SafetensorError
        from safetensors.torch import load_file, save_file

        f = self._cache_file(prompt)
        if f.exists():
            try:
                return load_file(str(f))["embeds"]
            except (SafetensorError, OSError, KeyError):
                f.unlink(missing_ok=True)  # a torn write from a killed run: recompute
        emb = self._encode(prompt)
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(f".tmp{os.getpid()}")
        save_file({"embeds": emb.contiguous()}, str(tmp), metadata={"prompt": prompt[:2000]})
        os.replace(tmp, f)
        return emb

    def _load_encoder(self) -> None:
        from transformers import AutoTokenizer, UMT5EncoderModel

        from ..quantize import load_quantized

        if self.model_dir is None:
            raise CheckpointError("no model_dir: cannot encode a prompt that was not given as embeddings")
        for sub in ("text_encoder", "tokenizer"):
            if not (self.model_dir / sub).is_dir():
                raise CheckpointError(f"{self.model_dir / sub} not found (expected the Wan {sub} in diffusers layout)")
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir / "tokenizer")
        enc = UMT5EncoderModel.from_pretrained(self.model_dir / "text_encoder", dtype=self.dtype)
        self._encoder = load_quantized(enc, self.quantize, self.device).eval()
        self.encoder_loads += 1

    @torch.no_grad()
    def _encode(self, prompt: str) -> torch.Tensor:
        if self._encoder is None:
            self._load_encoder()
        tok = self._tokenizer([prompt], padding="max_length", max_length=self.text_len, truncation=True,
                              add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        ids, mask = tok.input_ids.to(self.device), tok.attention_mask.to(self.device)
        out = self._encoder(ids, mask).last_hidden_state[0].float().cpu()
        out[int(mask.sum()):] = 0  # Wan zeroes the padding positions
        return out

    def release(self) -> None:
        if self._encoder is None:
            return
        self._encoder = self._tokenizer = None
        gc.collect()  # a model's modules can hold cycles: free it now, before its CUDA blocks are handed back
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
