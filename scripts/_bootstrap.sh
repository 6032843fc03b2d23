# Shared by scripts/demo and scripts/test: make sure uv exists and the locked environment is in place.
# Sourced, not executed. The lock is requirements.lock (exact versions with hashes), exported from
# pyproject.toml with `uv lock && uv export --no-emit-project --group dev -o requirements.lock`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v uv >/dev/null 2>&1; then
  echo "==> installing uv (the project's package manager)"
  python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing $tool (needed to run the local Kafka broker)"
      apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
    else
      echo "error: '$tool' is missing: install Java 17 and Maven (Debian: openjdk-17-jre-headless maven)" >&2
      exit 1
    fi
  fi
done
echo "==> syncing the locked Python environment"
uv venv --quiet --allow-existing --python 3.11 .venv
uv pip sync --quiet --python .venv/bin/python --require-hashes requirements.lock
uv pip install --quiet --python .venv/bin/python --no-deps -e .
export PATH="$PWD/.venv/bin:$PATH"
