"""Real-photo benchmark: a rectified stereo pair (Middlebury's Motorcycle unless real_photo.left/right/disparity
name yours), left view + depth in, right view out (stages/real_photo.py, docs/REAL_PHOTO.md).

    python benchmarks/real_photo.py [--params params.yaml] [--set real_photo.steps=20 ...] [--out artifacts/real_photo]

The same as ``worldwarp real-photo --params ... --out ...`` (that command also takes the pair as options).
Writes OUT/metrics.json and one PNG per run in OUT/panels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # stages/ beside worldwarp/, as the CLI has it

from stages.real_photo import run, summary  # noqa: E402
from worldwarp.config import ConfigError, load_params  # noqa: E402
from worldwarp.io.images import InputImageError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=None, help="params.yaml (default: built-in defaults)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. real_photo.steps=20")
    ap.add_argument("--out", type=Path, default=Path("artifacts/real_photo"))
    args = ap.parse_args(argv)
    try:
        m = run(load_params(args.params, args.set), args.out)
    except (ConfigError, InputImageError, OSError) as e:  # user-caused: one line, no traceback
        print(f"error: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}", file=sys.stderr)
        return 2
    print("\n".join(summary(m)))
    print(f"metrics: {args.out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
