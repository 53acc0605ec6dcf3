#!/usr/bin/env bash
# Train Easter2 on a GPU machine that has JAX but neither TensorFlow nor registry
# access (how the shipped weights were made; see models/MODEL_CARD.md).
#   bash tools/gpu_train.sh MINUTES OUTDIR [extra `htr train` flags...]
# Wheels for what the machine lacks (keras, namex, optree, editdistance) are
# carried in .whl/; an IAM subset in .devdata/iam (never committed).
# Set BENCH=1 to measure inference throughput (benchmarks/gpu_throughput.py) first,
# STEP=1 to time the training step by batch size and feed (benchmarks/train_step.py;
# STEP_ARGS overrides its flags) — then pass the batch that wins, e.g. --batch 256.
# Stage 4b (2026-11-26, H100; see models/MODEL_CARD.md):
# the 89 fonts but five held out as unseen hands, weights averaged (ema), best
# epoch by the mean of the held-out fonts' and the real validation lines' CER,
# among epochs within the ship rule's bound on the real lines (real_max):
#   bash tools/gpu_train.sh 7 OUT --init RUN4A/best.weights.h5 \
#     --config tools/finetune_stage4.json --steps-per-epoch 300
# Stage 5 (the shipped weights): the same from 4b's best, with backhand slants too:
#   bash tools/gpu_train.sh 3 OUT --init RUN4B/best.weights.h5 --config tools/finetune_stage5.json
# One device call may run 600 s: MINUTES is the optimisation loop alone (start-up,
# validation sets and the last evaluation come on top), so keep it <= 6 with STEP=1
# (the step benchmark takes about 90 s) and <= 7 without. The best weights and the
# log are copied into OUTDIR whenever they change, so a run cut off still returns them.
set -uo pipefail
MIN=${1:-7}
OUT=${2:-runs/gpu}
shift 2 || true
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import jax, keras; print('jax', jax.__version__, 'keras', keras.__version__, jax.devices())"
RUN=/tmp/run
if [ "${BENCH:-0}" = 1 ]; then  # inference throughput first (of the shipped weights): it stands even if training is cut short
  timeout 120 python3 benchmarks/gpu_throughput.py models/easter2.weights.h5 2>&1 | tee "$OUT/gpu_throughput.txt"
fi
if [ "${STEP:-0}" = 1 ]; then  # training-step throughput: which batch size and feed the GPU likes
  timeout 150 python3 benchmarks/train_step.py ${STEP_ARGS:---batches 64,256 --feeds uint8 --seconds 5} \
    --out "$OUT/train_step" 2>&1 | tee "$OUT/train_step.txt"
fi
# files come back from the device at most 16 MiB each: the 25 MB weights go in parts
save() {  # $1: weights file name in $RUN; copies it (split) and the log into $OUT
  [ -f "$RUN/$1" ] || return 0
  split -b 15m "$RUN/$1" "$OUT/$1.part-"
  cp "$RUN"/log.csv "$RUN"/curves.png "$OUT"/ 2>/dev/null
}
( while sleep 15; do  # best.weights.h5 is replaced whole (os.replace), never half written
    if [ -f "$RUN/best.weights.h5" ] && [ "$RUN/best.weights.h5" -nt /tmp/saved.stamp ]; then
      touch /tmp/saved.stamp; save best.weights.h5
    fi
  done ) &
SAVER=$!
timeout $(( ${MIN%.*} * 60 + 120 )) python3 -m htr.train --preset gpu --minutes "$MIN" \
  --iam-dir .devdata/iam --real-weight 0.05 --out "$RUN" "$@" 2>&1 | tee "$OUT/train.log"
kill $SAVER 2>/dev/null
save best.weights.h5
save last.weights.h5
