#!/usr/bin/env bash
# Issue #26's GPU runs of benchmarks/revisit.py, as run on a lent GPU machine (device tool, carry [".whl", ".gsplat"]):
#
#   bash benchmarks/gpu_revisit.sh demo   # gsplat extension (prebuilt if .gsplat/ has it, else built into $OUT/gs),
#                                         # then the demo-size matrix (160x256, 8 chunks, 150 steps) + pan360 (16 chunks)
#   bash benchmarks/gpu_revisit.sh bound  # the demo size with the exact filler (holes = the exact render), fresh and
#                                         # world: the cache's own loss, the floor of the decay targets (~1 min)
#   bash benchmarks/gpu_revisit.sh long [MODES]  # the 1000-frame full-size out-and-back (480x720, 49-frame chunks,
#                                         # 500 steps), MODES (default "fresh world") one after another, classical
#                                         # filler, each MODE[:N][/VARIANT] (N chunks, default CHUNKS or 23; VARIANT:
#                                         # hf = memory.seed_order=history_first, memory.retrieved_tolerance=0.1;
#                                         # rf = retrieved_first, 0.02, the seeding before 2026-12-07;
#                                         # bX = memory.seed_budget=X);
#                                         # export --world right after the first world run (profiled, EXPORT_S=240 s at most).
#                                         # E.g. > $OUT/log.txt 2>&1 with "fresh world/rf world" (world alone took
#                                         # 137 s of pipeline on an H100, §15g)
#
# Each run's JSON goes to /tmp/rv (its stores stay there); the JSONs come back as one tarball in $OUT (a call brings
# back at most 8 files).
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 benchmarks/gsplat_prebuilt.py ensure --out "$OUT/gs" || exit 1  # carried, else built here (67 s on an H100)
rv() { local t=$SECONDS log=/tmp/rv/log_$SECONDS.txt
       python3 benchmarks/revisit.py run --set device=cuda --out /tmp/rv "$@" > $log 2>&1 || { echo "FAILED: $*"; tail -5 $log; }
       echo "$((SECONDS - t)) s: $*"; }
pack() { tar -C /tmp/rv -czf "$OUT/revisit_$1.tar.gz" $(cd /tmp/rv && ls *.json log_*.txt) 2>/dev/null; ls -la "$OUT"; }
# world.ply of the 1000-frame world run: fused, refined 100 steps, scored at every camera (issue 26: <= 60 s), timed by
# benchmarks/world_export.py (export --world's own work, no mp4/PNG exports, so no ffmpeg); profiled, and stopped by
# SIGINT after EXPORT_S seconds (the profile is still written; -k: killed 15 s later) so that a later mode still runs
export_world() {  # $1: the run's name
  local t=$SECONDS
  timeout -s INT -k 15 ${EXPORT_S:-240} python3 -m cProfile -o "$OUT/export_$1.prof" benchmarks/world_export.py \
    /tmp/rv/artifacts/runs/$1.zarr --device cuda --out /tmp/wexp_$1 2>&1 | tail -20
  echo "$((SECONDS - t)) s: export --world $1"
  for f in world_score world_export; do cp /tmp/wexp_$1/$f.json /tmp/rv/export_$1_$f.json 2>/dev/null; done
}
mkdir -p /tmp/rv
case "${1:-demo}" in
  demo)
    for path in identical offset; do
      for filler in classical oracle; do
        for mode in fresh world; do rv --mode $mode --filler $filler --path $path; pack demo; done
      done
    done
    rv --mode append --filler classical --path identical; pack demo
    for mode in fresh world; do rv --mode $mode --filler classical --path pan360 --chunks 16; pack demo; done
    ;;
  bound)
    for mode in fresh world; do rv --mode $mode --filler exact --path identical; pack bound; done
    ;;
  long)
    # MODES: e.g. "fresh:4 world fresh": a mode, optionally :N chunks (default CHUNKS or 23; its JSON gets _N), one
    # after another; export --world right after a world run
    for spec in ${2:-fresh world}; do
      variant=; [[ $spec == */* ]] && variant=${spec##*/}; spec=${spec%%/*}
      mode=${spec%%:*}; n=${CHUNKS:-23}; [[ $spec == *:* ]] && n=${spec##*:}
      case $variant in
        "") knobs=() ;;
        hf) knobs=(--tag hf --set memory.seed_order=history_first --set memory.retrieved_tolerance=0.1) ;;
        rf) knobs=(--tag rf --set memory.seed_order=retrieved_first --set memory.retrieved_tolerance=0.02) ;;
        b*) knobs=(--tag ${variant//./p} --set memory.seed_budget=${variant#b}) ;;
        *) echo "unknown variant: $variant"; exit 2 ;;
      esac
      name=room_identical_classical_$mode${variant:+_${variant//./p}}
      rv --mode $mode --filler classical --path identical --height 480 --width 720 --chunks $n --steps 500 \
         --distance 2 --set chunk.frames=49 "${knobs[@]}"
      [[ $spec == *:* ]] && mv /tmp/rv/$name.json /tmp/rv/${name}_$n.json
      pack long
      [[ $mode == world && -z ${NO_EXPORT_AFTER:-} ]] && export_world $name && pack long
      [[ $mode == world ]] && NO_EXPORT_AFTER=1  # one export a call: the first world run's
    done
    du -sh /tmp/rv/artifacts/runs/*.zarr
    ;;
esac
