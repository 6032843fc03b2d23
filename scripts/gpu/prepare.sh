#!/usr/bin/env bash
# Prepare .gpu/ (git-ignored) for scripts/gpu/device.sh on a networked machine: the
# fine-tuning set, the encoder in float16, onnxruntime-gpu unpacked with its CUDA kernels
# pruned to sm_90 (H100/H200), and the Python 3.12 wheels such a machine lacks.
# Usage: scripts/gpu/prepare.sh [DATASETS]   (default ../shared/datasets)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATASETS=${1:-../shared/datasets}
PY=.venv/bin/python
ORT_GPU=${ORT_GPU:-onnxruntime-gpu==1.31.1}
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu/ft .gpu/w/minilm .gpu/ort .gpu/whl
.venv/bin/clearpath model finetune-export --datasets "$DATASETS" --out .gpu/ft/finetune.npz
$PY - <<'PY'
import shutil
from pathlib import Path
import numpy as np
from safetensors.numpy import load_file, save_file
from shared.inference.assets import load_encoder_assets
src, dst = load_encoder_assets().model_dir, Path(".gpu/w/minilm")
for name in ("config.json", "tokenizer.json"):
    shutil.copy(src / name, dst / name)
w = load_file(str(src / "model.safetensors"))
save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in w.items()},
          str(dst / "model.safetensors"))
PY
wheels=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q "${wheels[@]}" -d "$tmp" "$ORT_GPU"
mkdir "$tmp/ort" && (cd "$tmp/ort" && unzip -q ../onnxruntime_gpu-*.whl)
cuda="$tmp/ort/onnxruntime/capi/libonnxruntime_providers_cuda.so"
python3 scripts/gpu/prune_fatbin.py "$cuda" "$cuda.pruned" && mv "$cuda.pruned" "$cuda"
rm -f "$tmp"/ort/onnxruntime/capi/libonnxruntime.so.*  # the C API library; Python does not use it
tar -C "$tmp/ort" -cf - . | xz -9 -T2 > .gpu/ort/onnxruntime-gpu.tar.xz
# What `clearpath` imports that the machine's image lacks, at the versions in requirements.lock.
need="annotated-types confluent-kafka deprecated python-dotenv limits opentelemetry-api
  phonenumbers psycopg psycopg-binary psycopg-pool pydantic pydantic-core pydantic-settings redis
  python-stdnum typing-inspection"
specs=$(for n in $need; do grep -i "^$n==" requirements.lock | cut -d' ' -f1; done)
# shellcheck disable=SC2086
python3 -m pip download -q "${wheels[@]}" -d .gpu/whl $specs
du -sh .gpu/*
