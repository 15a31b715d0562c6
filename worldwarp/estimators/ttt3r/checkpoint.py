"""Reading and writing TTT3R/CUT3R checkpoints in the released format.

The released file (``cut3r_512_dpt_4_64.pth``) is a torch pickle ``{"model": state_dict, "args": Namespace(model=
"ARCroco3DStereo(ARCroco3DStereoConfig(...))", ...), ...}``. It is read with ``torch.load(weights_only=True,
mmap=True)`` with one extra allowed type, argparse.Namespace (a plain attribute holder: unpickling it runs no
code); anything else in the pickle is refused in one line naming the file. The architecture comes from the stored
model string when there is one, else it is the released one.
"""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import torch

from ...diffusion.checkpoint import CheckpointError, check_against, find_state_dict, load_torch_file
from .config import RELEASED, Cut3rConfig, Ttt3rConfigError, model_string, parse_model_string

WHAT = "a TTT3R/CUT3R checkpoint (e.g. cut3r_512_dpt_4_64.pth)"
SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


def checkpoint_file(path: str | Path | None) -> Path:
    """``path`` itself, or the one torch checkpoint in the directory ``path``."""
    if path is None:
        raise CheckpointError(f"estimator.model_dir is not set; expected the path of {WHAT}")
    p = Path(path)
    if p.is_file():
        return p
    if not p.exists():
        raise CheckpointError(f"TTT3R checkpoint not found: {p} (expected {WHAT}, or a directory holding one)")
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUFFIXES)
    if len(files) != 1:
        found = "none" if not files else ", ".join(f.name for f in files)
        raise CheckpointError(f"{p} must hold exactly one torch checkpoint ({'/'.join(SUFFIXES)}), found {found}")
    return files[0]


def _stored_model_string(ckpt: object) -> str | None:
    args = ckpt.get("args") if isinstance(ckpt, dict) else None
    model = getattr(args, "model", None) if isinstance(args, Namespace) else (args or {}).get("model") \
        if isinstance(args, dict) else None
    return model if isinstance(model, str) else None


def read_checkpoint(path: str | Path | None) -> tuple[Cut3rConfig, dict[str, torch.Tensor], Path]:
    """(architecture, state dict with any ``module.`` prefix removed, the file read)."""
    f = checkpoint_file(path)
    ckpt = load_torch_file(f, safe_globals=(Namespace,))
    text = _stored_model_string(ckpt)
    try:
        cfg = parse_model_string(text) if text else RELEASED
    except Ttt3rConfigError as e:
        raise CheckpointError(f"{f}: {e}") from None
    sd, _ = find_state_dict(ckpt, f)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return cfg, sd, f


def load_weights(model: torch.nn.Module, sd: dict[str, torch.Tensor], source: Path) -> None:
    """Every key and shape must match (the released file has exactly the model's keys)."""
    check_against(sd, model.state_dict(), source, what="the TTT3R/CUT3R network its stored model string describes",
                  hint="")
    model.load_state_dict(sd, strict=True)


def save_release_format(model: torch.nn.Module, path: str | Path) -> Path:
    """Write ``model`` as the authors' training script does: {"model": state_dict, "args": Namespace(model=...)}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save({"model": sd, "args": Namespace(model=model_string(model.config)), "epoch": 0}, path)
    return path
