#!/usr/bin/env bash
# The GPU checklist of benchmarks/RESULTS.md in one command, on one GPU.
#
#   benchmarks/gpu.sh [OUTPUT.jsonl]     # default: benchmarks/gpu-<date>.jsonl
#   WHEELS=DIR benchmarks/gpu.sh         # first install DIR/*.whl (no index)
#   DRY_RUN=1 benchmarks/gpu.sh          # print the commands only
#
# Runs, each as `python -m mmcap.benchmark`, appending JSON lines to OUTPUT:
# paper-size LRCN-2f and m-RNN training in bf16 at batch 1,024 (MFU) beside
# the PyTorch twin (cuDNN LSTMs); the same at unroll 1 (the configs unroll
# LRCN fully), without vocabulary padding, and LRCN-2f with every row at
# every step (--row_blocks=1: no per-step conditionals), the three open
# decisions;
# float32 at the reference batch of 100 beside PyTorch; beam 1/3/5 decoding
# of 5,000 images and 1,000 x 5,000 retrieval, both beside PyTorch; the
# activity models at their reference size beside PyTorch, and at 768 clips;
# S2VT training and decoding; VGG-16 and ResNet-50 feature extraction
# (mmcap.extract's step, fc7 and avg_pool at 224) in bf16 and float32. Then
# it prints every row as one Markdown table for RESULTS.md. Expected to take 6 to 8 minutes on an H100/H200 (not yet
# run there).
#
# Needs a CUDA JAX, flax, optax, orbax-checkpoint, absl-py, numpy and
# PyTorch; not TensorFlow. ml-collections (and mmcap itself, when not
# installed) travel as wheels in WHEELS: `pip wheel --no-deps -w wheels
# ml-collections .` on any machine.
set -euo pipefail
cd "$(dirname "$0")/.."

OUTPUT="${1:-benchmarks/gpu-$(date +%F).jsonl}"
run() {
  echo "+ python -m mmcap.benchmark --output=$OUTPUT $*" >&2
  if [[ -z "${DRY_RUN:-}" ]]; then
    python -m mmcap.benchmark --output="$OUTPUT" "$@"
  fi
}

if [[ -n "${WHEELS:-}" && -z "${DRY_RUN:-}" ]]; then
  python -m pip install --quiet --no-deps --no-index "$WHEELS"/*.whl
fi

paper=(--size=paper --dtype=bfloat16 --batch_size=1024)
run "${paper[@]}" --benchmarks=train --models=lrcn_2f,mrnn --compare=torch
run "${paper[@]}" --benchmarks=train --models=lrcn_2f,mrnn --unroll=1
run "${paper[@]}" --benchmarks=train --models=lrcn_2f,mrnn --vocab_multiple=1
run "${paper[@]}" --benchmarks=train --models=lrcn_2f --row_blocks=1
run --size=paper --benchmarks=train --models=lrcn_2f,mrnn --compare=torch
run "${paper[@]}" --benchmarks=decode,retrieval --models=lrcn_2f,mrnn --compare=torch
run --size=paper --dtype=bfloat16 --benchmarks=train --models=activity_lrcn,activity_single_frame \
  --compare=torch
run --size=paper --dtype=bfloat16 --batch_size=768 --benchmarks=train \
  --models=activity_lrcn,activity_single_frame --unroll=16
run --size=paper --dtype=bfloat16 --benchmarks=train,decode --models=s2vt
run --size=paper --dtype=bfloat16 --batch_size=256 --benchmarks=extract --models=
run --size=paper --batch_size=256 --benchmarks=extract --models=

if [[ -z "${DRY_RUN:-}" ]]; then
  python -m mmcap.benchmark --table="$OUTPUT"
fi
