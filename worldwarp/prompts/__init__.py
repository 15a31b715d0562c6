"""Text prompts for the denoiser: fixed, or captioned by a VLM with an on-disk cache. No heavy imports here."""

from .cache import CaptionCache, image_digest
from .captioner import Captioner, chunk_prompt, fixed_prompt, load_captioner

__all__ = ["CaptionCache", "Captioner", "chunk_prompt", "fixed_prompt", "image_digest", "load_captioner"]
