#!/usr/bin/env bash
# Create a separate virtualenv with LiteLLM's proxy for bench/gateway_overhead.py.
# LiteLLM lives in its own venv so its large dependency set never touches the project venv.
#
#   bash bench/setup_litellm.sh [VENV_DIR]      (default: bench/.venv-litellm)
#
# The version is pinned (override with LITELLM_VERSION=...). 1.82.7 and 1.82.8 are excluded on
# purpose and refused below; 1.91.1 is the version the numbers in bench/README.md were measured with.
set -euo pipefail

LITELLM_VERSION="${LITELLM_VERSION:-1.91.1}"
case "$LITELLM_VERSION" in
  1.82.7|1.82.8) echo "refusing to install litellm $LITELLM_VERSION (excluded by this project; pick another version)" >&2; exit 1 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-$here/.venv-litellm}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "litellm[proxy]==$LITELLM_VERSION"
"$venv/bin/litellm" --version 2>/dev/null || "$venv/bin/python" -c "import importlib.metadata as m; print('litellm', m.version('litellm'))"
echo "LiteLLM $LITELLM_VERSION ready in $venv"
