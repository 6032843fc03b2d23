#!/usr/bin/env bash
# Prepare .gpu/ (git-ignored) for scripts/gpu/device.sh on a networked machine: the
# fine-tuning set, the encoder in float16, onnxruntime-gpu unpacked with its CUDA kernels
# pruned to sm_90 (H100/H200), and the Python 3.12 wheels such a machine lacks.
# Usage: scripts/gpu/prepare.sh [DATASETS]   (default ../shared/datasets)
#        scripts/gpu/prepare.sh --e2e          also what `device.sh e2e` needs beyond that:
#   .gpu/e2e-deps/kafka-jars.tar   Kafka's jars and the cached class path, at their paths here
#   .gpu/e2e-model/redis.tar.xz    this machine's redis-server with the libraries it links
#   .gpu/e2e-jre/jre.tar.xz        a jlink'ed Java runtime (needs a JDK: jmods), and beside it
#                                  py-spy's wheel (device.sh latency samples the workers)
# (/root paths: the GPU machine runs commands as root, as this one does.)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
if [ "${1:-}" = "--e2e" ]; then
  mkdir -p .gpu/e2e-deps .gpu/e2e-model .gpu/e2e-jre
  classpath=$($PY -c 'from pathlib import Path
from shared.settings import Settings
from shared.stack.kafka import default_cache_dir, default_deploy_dir, resolve_classpath
s = Settings().stack
print(resolve_classpath(version=s.kafka_version, pom=default_deploy_dir() / "kafka" / "pom.xml",
                        cache_dir=default_cache_dir() / f"kafka-{s.kafka_version}"))')
  cache=$($PY -c 'from shared.settings import Settings; from shared.stack.kafka import default_cache_dir
print(default_cache_dir() / f"kafka-{Settings().stack.kafka_version}")')
  { tr ':' '\n' <<<"$classpath"; echo "$cache/classpath.txt"; echo "$cache/classpath.key"; } |
    sed 's|^/||' | tar -C / -cf .gpu/e2e-deps/kafka-jars.tar -T -
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  r="$stage/redis/opt/cp-redis"
  mkdir -p "$r/bin" "$r/lib" "$r/libexec"
  cp "$(command -v redis-server)" "$r/libexec/"
  for l in liblzf.so.1 libjemalloc.so.2 libatomic.so.1; do cp -L "/lib/x86_64-linux-gnu/$l" "$r/lib/"; done
  printf '#!/bin/sh\nLD_LIBRARY_PATH=/opt/cp-redis/lib exec /opt/cp-redis/libexec/redis-server "$@"\n' \
    > "$r/bin/redis-server"
  chmod +x "$r/bin/redis-server"
  tar -C "$stage/redis" -cJf .gpu/e2e-model/redis.tar.xz opt
  mkdir -p "$stage/jre/opt"
  modules=java.base,java.compiler,java.desktop,java.instrument,java.logging,java.management
  modules+=,java.management.rmi,java.naming,java.net.http,java.prefs,java.rmi,java.scripting
  modules+=,java.security.jgss,java.security.sasl,java.sql,java.transaction.xa,java.xml
  modules+=,jdk.crypto.ec,jdk.jfr,jdk.management,jdk.management.agent,jdk.naming.dns,jdk.net
  modules+=,jdk.unsupported,jdk.zipfs,jdk.security.auth,jdk.security.jgss,jdk.httpserver
  jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
    --output "$stage/jre/opt/cp-jre"
  tar -C "$stage/jre" -cf - opt | xz -9e -T2 > .gpu/e2e-jre/jre.tar.xz
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
    --python-version 3.12 --implementation cp -d .gpu/e2e-jre py-spy==0.4.3
  du -sh .gpu/e2e-*/*
  exit 0
fi
DATASETS=${1:-../shared/datasets}
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
need="annotated-types confluent-kafka deprecated python-dotenv limits opentelemetry-api orjson
  phonenumbers psycopg psycopg-binary psycopg-pool pydantic pydantic-core pydantic-settings redis
  python-stdnum typing-inspection"
specs=$(for n in $need; do grep -i "^$n==" requirements.lock | cut -d' ' -f1; done)
# shellcheck disable=SC2086
python3 -m pip download -q "${wheels[@]}" -d .gpu/whl $specs
du -sh .gpu/*
