#!/usr/bin/env bash
# Create a separate virtualenv with llama.cpp (llama-cpp-python) and its HF->GGUF converter for
# bench/verify_llamacpp.py. It lives in its own venv so the converter's pins (transformers 4.x)
# never touch the project venv.
#
#   bash bench/setup_llamacpp.sh [VENV_DIR]      (default: bench/.venv-llamacpp)
#
# PyPI has no prebuilt llama-cpp-python wheel for Linux, so the sdist is compiled (CPU only,
# portable: GGML_NATIVE=OFF; about 10 minutes on 2 cores; JOBS=... sets the build jobs). The same
# sdist vendors llama.cpp's convert_hf_to_gguf.py and gguf-py, which are unpacked into
# VENV_DIR/src so the converter always matches the runtime. Versions are pinned (override with
# LLAMA_CPP_PYTHON_VERSION=..., TRANSFORMERS_VERSION=...); torch is pinned like the project's
# (an unpinned torch pulls a multi-GB CUDA build). The numbers in bench/README.md were measured
# with the defaults.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
TRANSFORMERS_VERSION="${TRANSFORMERS_VERSION:-4.57.6}"   # what the vendored converter's requirements pin
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
JOBS="${JOBS:-2}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-$here/.venv-llamacpp}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install --quiet --upgrade pip

# The sdist: the runtime's sources and, under vendor/llama.cpp, the converter and gguf-py.
sdist="llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION"
mkdir -p "$venv/src"
if [ ! -f "$venv/src/$sdist.tar.gz" ]; then
  "${pip[@]}" download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$venv/src"
fi
if [ ! -f "$venv/src/$sdist/vendor/llama.cpp/convert_hf_to_gguf.py" ]; then
  tar -xzf "$venv/src/$sdist.tar.gz" -C "$venv/src"
fi

# The converter's dependencies, then its own gguf package (newer than PyPI's gguf at times).
"${pip[@]}" install --quiet "torch==$TORCH_VERSION" "transformers==$TRANSFORMERS_VERSION" \
  sentencepiece "protobuf>=4.21,<5"
"${pip[@]}" install --quiet "$venv/src/$sdist/vendor/llama.cpp/gguf-py"

# The runtime, compiled for the CPU.
if ! "$venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
    CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" MAKEFLAGS="-j$JOBS" \
    nice -n 19 "${pip[@]}" install --quiet "$venv/src/$sdist.tar.gz"
fi
"$venv/bin/python" -c "import importlib.metadata as m; print(', '.join(p + ' ' + m.version(p) for p in ('llama_cpp_python', 'gguf', 'transformers', 'torch')))"
echo "llama.cpp $LLAMA_CPP_PYTHON_VERSION ready in $venv (converter: $venv/src/$sdist/vendor/llama.cpp/convert_hf_to_gguf.py)"
