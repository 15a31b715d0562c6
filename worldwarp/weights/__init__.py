"""Released weights: check a weights folder (no GPU, no tensor data read); convert torch checkpoints to safetensors."""

from .check import Finding, check, table
from .convert import convert

__all__ = ["Finding", "check", "convert", "table"]
