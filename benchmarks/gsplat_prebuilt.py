"""gsplat's CUDA extension built once for a GPU machine, so a fresh machine starts its first chunk in seconds.

gsplat 1.5 ships as a pure-Python wheel and compiles its CUDA kernels on first use (75-165 s measured on the
lent H100s). But it first tries ``from gsplat import csrc``: a compiled module of that name inside the package is
used as is. ``build`` compiles gsplat's own sources with gsplat's own flags under that module name, on the GPU
machine (it needs nvcc and the GPU's arch), and writes the library (xz-compressed: a device call brings back at most
16 MiB a file) with a JSON of what it was built against. ``install`` unpacks it into the installed gsplat package,
refusing a library built for another gsplat, torch, CUDA or GPU arch. ``check`` times the first rasterization and
says which module served it.

On the GPU machine, with gsplat's wheel carried in .whl/ (benchmarks/README: how to carry wheels):

    python3 benchmarks/gsplat_prebuilt.py build --out $OUT          # once; keep the two files in .gsplat/ (git-ignored)
    python3 benchmarks/gsplat_prebuilt.py install .gsplat/gsplat_csrc_*.so.xz
    python3 benchmarks/gsplat_prebuilt.py check --out $OUT
    python3 benchmarks/gsplat_prebuilt.py ensure --out $OUT/gs       # install what fits from .gsplat/ or $OUT/gs, else build
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import lzma
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch


def _gsplat_dir() -> Path:
    import gsplat

    return Path(gsplat.__file__).resolve().parent


def _target() -> dict:
    """What a library is tied to: the same values must hold where it is installed."""
    import gsplat

    major, minor = torch.cuda.get_device_capability()
    return {"gsplat": gsplat.__version__, "torch": torch.__version__, "cuda": torch.version.cuda,
            "arch": f"{major}.{minor}", "python": f"{sys.version_info.major}.{sys.version_info.minor}"}


def _name(t: dict) -> str:
    return (f"gsplat_csrc_{t['gsplat']}_torch{t['torch'].replace('+', '-')}_sm{t['arch'].replace('.', '')}"
            f"_py{t['python'].replace('.', '')}")


def build(out: Path) -> None:
    if shutil.which("nvcc") is None and not os.environ.get("CUDA_HOME"):
        sys.exit("error: building gsplat's extension needs nvcc (CUDA_HOME or PATH)")
    pkg = _gsplat_dir() / "cuda"
    t = _target()
    # gsplat's own sources and flags (gsplat/cuda/_backend.py), under the module name its import tries first
    sources = sorted(glob.glob(str(pkg / "csrc" / "*.cu")) + glob.glob(str(pkg / "csrc" / "*.cpp"))) + [str(pkg / "ext.cpp")]
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", t["arch"])
    os.environ.setdefault("MAX_JOBS", str(os.cpu_count() or 8))
    from torch.utils.cpp_extension import load

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        load(name="csrc", sources=sources, extra_cflags=["-O3", "-Wno-attributes"],
             extra_cuda_cflags=["-O3", "-use_fast_math"],
             extra_include_paths=[str(pkg / "include"), str(pkg / "csrc" / "third_party" / "glm")],
             build_directory=tmp, verbose=False)
        seconds = time.perf_counter() - t0
        so = Path(tmp) / "csrc.so"
        raw = so.read_bytes()
    out.mkdir(parents=True, exist_ok=True)
    name = _name(t)
    (out / f"{name}.so.xz").write_bytes(lzma.compress(raw, preset=6))
    meta = {**t, "build_s": round(seconds, 1), "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "device": torch.cuda.get_device_name(), "max_jobs": os.environ["MAX_JOBS"]}
    (out / f"{name}.json").write_text(json.dumps(meta, indent=1))
    print(json.dumps(meta))


def _meta(archive: Path) -> dict:
    """The JSON written beside the library by build (what it was built for, its sha256)."""
    return json.loads(Path(str(archive).removesuffix(".so.xz") + ".json").read_text())


def _unfit(archive: Path, meta: dict) -> str | None:
    """Why the library cannot serve this machine (built for another gsplat, torch, CUDA, arch or Python), or None."""
    t = _target()
    wrong = {k: (meta.get(k), t[k]) for k in t if meta.get(k) != t[k]}
    if wrong:
        return f"{archive.name} was built for another setup: " + ", ".join(f"{k} {a} here {b}" for k, (a, b) in wrong.items())
    return None


def install(archive: Path) -> None:
    meta = _meta(archive)
    why = _unfit(archive, meta)
    if why:
        sys.exit(f"error: {why}")
    raw = lzma.decompress(archive.read_bytes())
    if hashlib.sha256(raw).hexdigest() != meta["sha256"]:
        sys.exit(f"error: {archive.name} does not match its sha256 in the JSON beside it")
    dest = _gsplat_dir() / "csrc.so"
    tmp = dest.with_suffix(".so.part")
    tmp.write_bytes(raw)
    os.replace(tmp, dest)
    print(f"installed {dest} ({len(raw) / 1e6:.1f} MB)")


def ensure(out: Path, carried: Path) -> None:
    """Install the first library in ``carried`` (.gsplat/) or ``out`` that fits this machine; else build one into
    ``out`` (bring it back and keep it in .gsplat/ for the next call) and install it. So a call works on a new
    checkout whose .gsplat/ is empty, at the cost of one build."""
    for archive in sorted(carried.glob("gsplat_csrc_*.so.xz")) + sorted(out.glob("gsplat_csrc_*.so.xz")):
        why = _unfit(archive, _meta(archive))
        if why is None:
            install(archive)
            return
        print(f"skipped: {why}")
    print(f"no library in {carried} or {out} fits this machine: building one")
    build(out)
    install(next(out.glob(f"{_name(_target())}.so.xz")))


def check(out: Path | None) -> None:
    """First rasterization on this machine: seconds, and whether the prebuilt module served it."""
    t0 = time.perf_counter()
    from gsplat.cuda._backend import _C

    import_s = time.perf_counter() - t0
    from gsplat import rasterization

    n, dev = 4096, "cuda"
    K = torch.tensor([[600.0, 0, 360], [0, 600, 240], [0, 0, 1]], device=dev)[None]
    t1 = time.perf_counter()
    img, _, _ = rasterization(torch.randn(n, 3, device=dev) * 0.3 + torch.tensor([0, 0, 3.0], device=dev),
                              torch.tensor([[1.0, 0, 0, 0]], device=dev).repeat(n, 1), torch.full((n, 3), 0.02, device=dev),
                              torch.full((n,), 0.5, device=dev), torch.rand(n, 3, device=dev),
                              torch.eye(4, device=dev)[None], K, 720, 480)
    torch.cuda.synchronize()
    res = {"module": getattr(_C, "__name__", None), "import_s": round(import_s, 2),
           "first_raster_s": round(time.perf_counter() - t1, 3), "finite": bool(torch.isfinite(img).all()),
           **_target(), "device": torch.cuda.get_device_name()}
    print(json.dumps(res))
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gsplat_prebuilt_check.json").write_text(json.dumps(res, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build").add_argument("--out", type=Path, required=True)
    sub.add_parser("install").add_argument("archive", type=Path)
    sub.add_parser("check").add_argument("--out", type=Path)
    e = sub.add_parser("ensure", help="install a carried or earlier build that fits, else build one and install it")
    e.add_argument("--out", type=Path, required=True, help="where a build goes (and an earlier call's build is)")
    e.add_argument("--carried", type=Path, default=Path(".gsplat"))
    a = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("error: gsplat_prebuilt.py needs a CUDA GPU (it builds and checks gsplat's CUDA kernels)")
    if a.cmd == "build":
        build(a.out)
    elif a.cmd == "install":
        install(a.archive)
    elif a.cmd == "ensure":
        ensure(a.out, a.carried)
    else:
        check(a.out)


if __name__ == "__main__":
    main()
