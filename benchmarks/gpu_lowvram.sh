#!/usr/bin/env bash
# Issue #28 item 3 on a lent GPU machine (device tool, carry [".whl", ".whl_tf", ".gsplat"]; an empty .gsplat/ costs a
# gsplat build in the call, brought back in $OUT/gs): lowvram against the
# default mode, full-size random weights (benchmarks/lowvram_gpu.py). Modes as arguments, default "default,lowvram";
# the weights are built once into /tmp/lvw, so a second call on the same warm machine can run the other mode.
#
#   bash benchmarks/carry_wheels.sh                 # .whl/ (torchao included)
#   .whl_tf/: transformers 5.25.0, tokenizers, huggingface_hub and their missing dependencies (py3.12 wheels), installed
#             only when the machine's transformers is older than 5 (the Qwen2.5-VL stand-in's config uses rope_parameters)
#   bash benchmarks/gpu_lowvram.sh default,lowvram
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
python3 -c "import transformers, sys; print('transformers', transformers.__version__); sys.exit(int(transformers.__version__.split('.')[0]) < 5)" \
  || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl_tf/*.whl || exit 1
python3 benchmarks/gsplat_prebuilt.py ensure --out "${OUT:-/tmp/out}/gs" || exit 1  # carried, else built here (67 s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 benchmarks/lowvram_gpu.py --out "${OUT:-/tmp/out}" --weights /tmp/lvw --modes "${1:-default,lowvram}" --chunks 2 --steps 50
