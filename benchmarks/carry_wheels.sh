#!/usr/bin/env bash
# The Python 3.12 wheels a lent GPU machine lacks for the pipeline (benchmarks/pipeline_gpu.py and the other *_gpu.py
# scripts), into .whl/ (git-ignored), 17 MB: the machine has torch 2.11+cu130, transformers, scipy, OpenCV,
# scikit-image, matplotlib, imageio, fsspec, rich, tqdm, PyYAML, jaxtyping (seen there on 2026-12-06).
# With the prebuilt gsplat extension in .gsplat/ (benchmarks/gsplat_prebuilt.py build, once), a fresh machine
# runs chunk 0 about 7 s after the call starts instead of paying gsplat's 67-165 s JIT (docs/BENCHMARKS.md §13):
#
#   bash benchmarks/carry_wheels.sh
#   device run, carry [".whl", ".gsplat"]:
#     python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl
#       && export PYTHONPATH=/tmp/site && python3 benchmarks/gsplat_prebuilt.py install .gsplat/gsplat_csrc_*.so.xz
#       && python3 benchmarks/pipeline_gpu.py --out $OUT ...
set -euo pipefail
cd "$(dirname "$0")/.."
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps "${plat[@]}" -d .whl gsplat==1.5.3 zarr==3.1.6 numcodecs donfig google-crc32c \
  crc32c pydantic pydantic-core annotated-types typing-inspection "diffusers>=0.35,<0.43" plyfile pytorch-msssim \
  torchao==0.18.0  # lowvram's int8 prompt models (3.4 MB, abi3; benchmarks/lowvram_gpu.py)
ls .whl
