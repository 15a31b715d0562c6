#!/usr/bin/env bash
# Wheels for FlashAttention-4 on a lent GPU machine (Python 3.12, torch+cu130), in two folders that each fit one
# device call: the cu13 library wheel (92 MB) is larger than a call may carry (64 MiB with the working tree), so its
# contents travel as one xz archive cut in two. Both folders are git-ignored through .git/info/exclude.
#
#   bash benchmarks/carry_fa4.sh            # makes .fa4a/ (wheels + part 1) and .fa4b/ (part 2)
#
# On the device, two calls to the same warm machine (it stays 30 s after a call):
#   call 1, carry [".whl", ".fa4a"]:  mkdir -p /root/fa4 && cp .fa4a/* /root/fa4/
#   call 2, carry [".whl", ".fa4b"]:  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl /root/fa4/*.whl
#        && cat /root/fa4/cu13.tar.xz.part1 .fa4b/cu13.tar.xz.part2 | xz -d | tar x -C /tmp/site
#        && export PYTHONPATH=/tmp/site:/tmp/site/nvidia_cutlass_dsl/dsl_packages:$PWD
# (docs/BENCHMARKS.md §12 ran this way on 2026-11-25.)
set -euo pipefail
cd "$(dirname "$0")/.."
FA4=${FA4:-4.0.0b36}
DSL=${DSL:-4.8.1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps "${plat[@]}" -d "$tmp" "flash-attn-4==$FA4" "nvidia-cutlass-dsl==$DSL" \
    "nvidia-cutlass-dsl-libs-base==$DSL" "nvidia-cutlass-dsl-libs-core==$DSL" "nvidia-cutlass-dsl-libs-cu13==$DSL" \
    "quack-kernels>=0.5.3" "apache-tvm-ffi>=0.1.11,<0.2" torch-c-dlpack-ext
mkdir -p .git/info .fa4a .fa4b
for d in /.fa4a/ /.fa4b/; do grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
rm -f .fa4a/* .fa4b/*
find "$tmp" -name '*.whl' ! -name 'nvidia_cutlass_dsl_libs_cu13-*' -exec cp {} .fa4a/ \;
(cd "$tmp" && mkdir x && cd x && python3 -m zipfile -e ../nvidia_cutlass_dsl_libs_cu13-*.whl . \
    && tar cf - nvidia_cutlass_dsl | xz -9e -T2 > ../cu13.tar.xz)
size=$(stat -c %s "$tmp/cu13.tar.xz")
half=$(( size / 2 ))
head -c "$half" "$tmp/cu13.tar.xz" > .fa4a/cu13.tar.xz.part1
tail -c +"$(( half + 1 ))" "$tmp/cu13.tar.xz" > .fa4b/cu13.tar.xz.part2
du -sh .fa4a .fa4b
