"""Camera files: ``cameras.npz`` and RealEstate10K camera text.

Both hold world-to-camera extrinsics in the OpenCV convention of ``worldwarp.geometry.cameras``.
Every problem with a file is a ``CameraError`` whose one-line message starts with the file's path.

cameras.npz keys: ``K`` (N, 3, 3) pixels, ``R`` (N, 3, 3) and ``t`` (N, 3) with x_cam = R x_world + t,
``width`` and ``height`` (integer scalars, the image size K refers to).

RealEstate10K text: line 1 is a URL or identifier; then one line per frame,
``timestamp_us fx fy cx cy k1 k2 r11 r12 r13 t1 r21 r22 r23 t2 r31 r32 r33 t3``, where fx, cx are divided by
the image width, fy, cy by the image height, and the 3x4 [R | t] is world-to-camera, row-major.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from .cameras import Cameras, CameraError

NPZ_KEYS = ("K", "R", "t", "width", "height")
RE10K_FIELDS = 19
ROT_ATOL = 1e-3  # same tolerance as validate_cameras: text files carry ~6 significant digits


def _fail(path: str | Path, problem: str) -> CameraError:
    # one line, always naming the file: this is what the CLI prints
    return CameraError(f"{path}: {' '.join(str(problem).split())}")


def _check_rotations(path: str | Path, R: np.ndarray, where: list[str] | None = None) -> None:
    """Orthonormal with det +1; ``where`` names each rotation (e.g. 'line 4') for the message."""
    err = np.abs(R @ np.swapaxes(R, 1, 2) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(R)
    for i in range(len(R)):
        name = where[i] if where else f"camera {i}"
        if err[i] > ROT_ATOL:
            raise _fail(path, f"{name}: rotation is not orthonormal (max |RR^T - I| = {err[i]:.3g})")
        if det[i] < 0:
            raise _fail(path, f"{name}: rotation has determinant -1 (a reflection)")


def _to_cameras(path: str | Path, K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int, height: int) -> Cameras:
    w2c = np.tile(np.eye(4), (len(R), 1, 1))
    w2c[:, :3, :3], w2c[:, :3, 3] = R, t
    try:
        return Cameras(torch.from_numpy(K), torch.from_numpy(w2c), int(width), int(height))
    except CameraError as e:  # anything the checks above did not name (e.g. focal <= 0)
        raise _fail(path, str(e)) from None


# ----------------------------------------------------------------------------------------- npz


def save_cameras_npz(path: str | Path, cams: Cameras) -> Path:
    """Write ``cams`` as cameras.npz (exactly at ``path``: numpy would append '.npz' to a bare name)."""
    w2c = cams.w2c.detach().cpu().double().numpy()
    arrays = {
        "K": cams.K.detach().cpu().double().numpy(),
        "R": w2c[:, :3, :3].copy(),
        "t": w2c[:, :3, 3].copy(),
        "width": np.int64(cams.width),
        "height": np.int64(cams.height),
    }
    path = Path(path)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise _fail(path, "no such file")
    if not zipfile.is_zipfile(path):  # np.load would guess 'pickle' for any non-zip bytes
        raise _fail(path, "not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise _fail(path, f"missing keys {missing} (has {sorted(z.files)}; needs {list(NPZ_KEYS)})")
            return {k: z[k] for k in NPZ_KEYS}
    except CameraError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise _fail(path, f"not a readable .npz file ({type(e).__name__}: {e})") from None


def _image_size(path: Path, z: dict[str, np.ndarray]) -> tuple[int, int]:
    out = []
    for key in ("width", "height"):
        v = z[key]
        if v.shape != () or not np.issubdtype(v.dtype, np.number) or not np.isfinite(v) or v != np.round(v) or v < 1:
            raise _fail(path, f"'{key}' must be a positive integer scalar, got shape {v.shape} value {v.tolist()}")
        out.append(int(v))
    return out[0], out[1]


def load_cameras_npz(path: str | Path) -> Cameras:
    """Read cameras.npz (see module docstring); intrinsics stay in the file's own image size."""
    path = Path(path)
    z = _read_npz(path)
    K, R, t = (np.asarray(z[k]) for k in ("K", "R", "t"))
    for key, arr, tail in (("K", K, (3, 3)), ("R", R, (3, 3)), ("t", t, (3,))):
        if arr.ndim != 1 + len(tail) or arr.shape[1:] != tail:
            raise _fail(path, f"'{key}' has shape {arr.shape}, expected (N, {', '.join(map(str, tail))})")
        if not np.issubdtype(arr.dtype, np.number):
            raise _fail(path, f"'{key}' has dtype {arr.dtype}, expected numbers")
    if not len(K) == len(R) == len(t):
        raise _fail(path, f"frame counts differ: K has {len(K)}, R {len(R)}, t {len(t)} (shape mismatch)")
    if len(K) == 0:
        raise _fail(path, "holds no cameras (N = 0)")
    K, R, t = K.astype(np.float64), R.astype(np.float64), t.astype(np.float64)
    for key, arr in (("K", K), ("R", R), ("t", t)):
        bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
        if bad.any():
            raise _fail(path, f"'{key}' contains NaN or inf (first at camera {int(np.argmax(bad))})")
    _check_rotations(path, R)
    width, height = _image_size(path, z)
    return _to_cameras(path, K, R, t, width, height)


# ---------------------------------------------------------------------------------- RealEstate10K


def _parse_re10k_line(path: Path, lineno: int, line: str) -> np.ndarray:
    parts = line.split()
    if len(parts) != RE10K_FIELDS:
        raise _fail(path, f"line {lineno}: expected {RE10K_FIELDS} numbers, got {len(parts)}")
    try:
        values = np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        bad = next(p for p in parts if not _is_float(p))
        raise _fail(path, f"line {lineno}: cannot parse {bad[:30]!r} as a number") from None
    if not np.isfinite(values).all():
        raise _fail(path, f"line {lineno}: contains NaN or inf")
    return values


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def load_realestate10k(path: str | Path, width: int, height: int) -> tuple[Cameras, np.ndarray]:
    """Cameras at ``width`` x ``height`` (normalised intrinsics scaled to pixels) and timestamps (N,) int64, µs.

    The first line is the identifier and is skipped; blank lines are ignored. Distortion k1, k2 is ignored
    (RealEstate10K frames are undistorted; the columns are zero).
    """
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise _fail(path, f"not a readable text file ({type(e).__name__})") from None
    lines = text.splitlines()
    if not text.strip():
        raise _fail(path, "empty file")
    rows, linenos = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        if line.strip():
            rows.append(_parse_re10k_line(path, lineno, line))
            linenos.append(lineno)
    if not rows:
        raise _fail(path, "no camera lines after the identifier line")
    a = np.stack(rows)
    timestamps = np.round(a[:, 0]).astype(np.int64)
    K = np.tile(np.eye(3), (len(a), 1, 1))
    K[:, 0, 0], K[:, 1, 1] = a[:, 1] * width, a[:, 2] * height
    K[:, 0, 2], K[:, 1, 2] = a[:, 3] * width, a[:, 4] * height
    P = a[:, 7:].reshape(-1, 3, 4)
    _check_rotations(path, P[:, :, :3], [f"line {n}" for n in linenos])
    bad_focal = (K[:, 0, 0] <= 0) | (K[:, 1, 1] <= 0)
    if bad_focal.any():
        raise _fail(path, f"line {linenos[int(np.argmax(bad_focal))]}: focal length must be positive")
    return _to_cameras(path, K, P[:, :, :3], P[:, :, 3], width, height), timestamps


def save_realestate10k(
    path: str | Path, cams: Cameras, timestamps: np.ndarray | None = None, url: str = ""
) -> Path:
    """Write RealEstate10K camera text; default timestamps are 30 fps (frame i at round(i * 1e6 / 30) µs)."""
    n = len(cams)
    if timestamps is None:
        timestamps = np.round(np.arange(n) * 1e6 / 30)
    timestamps = np.asarray(timestamps)
    if timestamps.shape != (n,):
        raise CameraError(f"{path}: {n} cameras but timestamps of shape {timestamps.shape}")
    K = cams.K.detach().cpu().double().numpy()
    w2c = cams.w2c.detach().cpu().double().numpy()
    W, H = cams.width, cams.height
    out = [" ".join(url.split())]  # the identifier must stay on one line
    for i in range(n):
        intr = [K[i, 0, 0] / W, K[i, 1, 1] / H, K[i, 0, 2] / W, K[i, 1, 2] / H, 0.0, 0.0]
        nums = [f"{v:.12g}" for v in intr + list(w2c[i, :3, :4].reshape(-1))]
        out.append(" ".join([str(int(timestamps[i]))] + nums))
    path = Path(path)
    path.write_text("\n".join(out) + "\n")
    return path


# ----------------------------------------------------------------------------------------- dispatch


def rescale_intrinsics(K: torch.Tensor, src_size: tuple[int, int], dst_size: tuple[int, int]) -> torch.Tensor:
    """K (N, 3, 3) for an image of ``src_size`` (w, h) -> K for ``dst_size``, the way images are fitted
    (``io.images.fit_to_resolution``): centre-crop to the target aspect ratio, then resize uniformly.
    Cropping shifts the principal point; the uniform resize keeps pixels square."""
    (sw, sh), (dw, dh) = src_size, dst_size
    if (sw, sh) == (dw, dh):
        return K.clone()
    if sw / sh > dw / dh:
        cw, ch = sh * dw / dh, float(sh)
    else:
        cw, ch = float(sw), sw * dh / dw
    scale = dw / cw
    out = K.clone().double()
    out[:, 0, 2] -= (sw - cw) / 2
    out[:, 1, 2] -= (sh - ch) / 2
    out[:, :2, :] *= scale
    return out.to(K.dtype)


def load_trajectory(path: str | Path, width: int, height: int) -> Cameras:
    """Cameras from a .npz or RealEstate10K .txt file, with intrinsics for a ``width`` x ``height`` image."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        cams = load_cameras_npz(path)
        K = rescale_intrinsics(cams.K, (cams.width, cams.height), (width, height))
        return Cameras(K, cams.w2c, width, height)
    if suffix == ".txt":
        return load_realestate10k(path, width, height)[0]
    raise _fail(path, f"unknown trajectory file type {suffix!r} (expected .npz or RealEstate10K .txt)")
