#!/usr/bin/env bash
# The train step on one NVIDIA H200 (issue 14), in one call of the device tool:
#   run(command="bash experiments/h200_train_benchmark.sh", timeout_s=560)
# It needs jax (CUDA), optax, orbax, numpy, opencv and absl, nothing else (no TensorFlow,
# TFDS or Grain: the train benchmark draws its batch from the pipeline's sequence maker).
# Goal: >= 7,000 frame-steps/s for the paper model at every curriculum stage in bfloat16
# compute (mixed_bfloat16: float32 weights and Adam), i.e. the paper's ~25.6M frame-steps in
# about an hour. Each part has its own time limit, most important first, so a run cut short
# still returns what it measured; every JSON and log lands in $OUT (default /tmp/h200).
set -uo pipefail
OUT=${OUT:-/tmp/h200}
mkdir -p "$OUT"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # peak memory as used, not as preallocated
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.csv"
python3 -c 'import jax; print(jax.__version__, jax.devices())' | tee "$OUT/jax.txt"

bench() {  # NAME SECONDS ARGS...
  local name=$1 limit=$2
  shift 2
  timeout "$limit" python3 -m re3_jax.benchmark train --out="$OUT/$name.json" "$@" \
    2>&1 | tee "$OUT/$name.log"
}
# 1. The goal: paper, every stage, bfloat16 compute.
bench paper_bf16 240 --configs=paper --stages=2x64,4x32,8x16,16x8,32x4 \
  --train_precision=mixed_bfloat16 --runs=5
# 2. float32, and the ratio to the stepwise step (the tower inside the time loop).
bench paper_f32 150 --configs=paper --stages=2x64,32x4 --train_precision=float32 --runs=3 \
  --stepwise_too=paper:2x64,paper:32x4
# 3. The small model, and the paper model with the tower rematerialised (memory).
bench small_bf16 60 --configs=small --stages=2x64,32x4 --train_precision=mixed_bfloat16 --runs=3
bench paper_bf16_remat 60 --configs=paper --stages=32x4 --train_precision=mixed_bfloat16 \
  --runs=3 --remat
ls -l "$OUT"
