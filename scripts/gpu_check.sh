#!/usr/bin/env bash
# The prepared GPU check: installs drarl_tf with its `gpu` extra in a fresh virtual
# environment, checks that TensorFlow sees the GPU(s), and measures on them
#   1. the IMPALA train step per net and precision (float32, mixed_bfloat16,
#      mixed_float16), without and with XLA;
#   2. IMPALA end to end on Pong with inference on the actors and on the learner
#      (one actor per free core), against each mode's compute bound;
#   3. with 2+ GPUs, end to end again with the mirrored learner;
#   4. the unroll hand-over (pickled pipe vs shared-memory slot).
# Results: one JSON per step, the devices and the log, in the output directory.
#
#   bash scripts/gpu_check.sh [output_dir]        # default: $OUT, else ./gpu_check
#   DRARL_GPU_PYTHON=/path/to/python bash scripts/gpu_check.sh   # no install: use it
#   SECONDS_PER_MEASUREMENT=10 (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_check}}"
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
seconds="${SECONDS_PER_MEASUREMENT:-5}"

if [[ -n "${DRARL_GPU_PYTHON:-}" ]]; then
  python="$DRARL_GPU_PYTHON"
else
  venv="$(mktemp -d)/venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e ".[gpu]"
  python="$venv/bin/python"
fi

TF_CPP_MIN_LOG_LEVEL=2 "$python" - "$out/devices.json" <<'PY'
import json, os, sys
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
info = {"tensorflow": tf.__version__, "gpus": [g.name for g in gpus],
        "details": [tf.config.experimental.get_device_details(g) for g in gpus],
        "cpu_cores": os.cpu_count(), "build": dict(tf.sysconfig.get_build_info())}
json.dump(info, open(sys.argv[1], "w"), indent=2, default=str)
print(json.dumps(info["details"], default=str))
if not gpus:
    sys.exit("error: TensorFlow sees no GPU (see the lines above; is the driver loaded, "
             "and was the `gpu` extra installed?)")
PY
gpus=$("$python" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['gpus']))" \
  "$out/devices.json")
cores=$(nproc)
actors=$(( cores > 3 ? cores - 2 : 1 ))  # leave two cores to the learner's process
echo "gpus: $gpus, cores: $cores, actors: $actors"

bench() { "$python" scripts/benchmark.py --seconds="$seconds" "$@"; }
bench --mode=precision --precisions=float32,mixed_bfloat16,mixed_float16 \
  --output_json="$out/precision.json"
for precision in float32 mixed_bfloat16; do
  bench --mode=impala --game=Pong --num_actors="$actors" --envs_per_actor=16 \
    --precision="$precision" --inference_modes=actor,learner \
    --output_json="$out/impala_$precision.json"
done
if (( gpus >= 2 )); then
  bench --mode=impala --game=Pong --num_actors="$actors" --envs_per_actor=16 \
    --precision=mixed_bfloat16 --inference_modes=learner --strategy=mirrored \
    --output_json="$out/impala_mirrored.json"
fi
bench --mode=transport --output_json="$out/transport.json"
echo "done: results in $out"
