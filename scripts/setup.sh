#!/usr/bin/env bash
# Installs what Recur needs when it is missing: the C libraries the kernels link (apt) and, with
# --python, the PyTorch reference stack the tests compare against (pip). Safe to run repeatedly.
set -euo pipefail

want_python=0
[ "${1:-}" = "--python" ] && want_python=1

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
fi
