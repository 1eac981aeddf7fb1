#!/usr/bin/env bash
# Creates (once) the project's virtual environment in .venv and installs monai_ext with its test and deploy extras
# (deploy: onnx, onnxscript, onnxruntime, openvino, which the tests of monai_ext.deploy need).
# Usage: bash scripts/setup_env.sh      (re-running it is cheap: it only installs what is missing)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${MONAI_EXT_VENV:-$root/.venv}"
py="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$py" -m venv "$venv"
fi
# torch first, pinned to the CPU build the machine provides; a bare "torch" requirement would pull a CUDA build.
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  "$venv/bin/pip" install -q "torch==${TORCH_VERSION:-2.13.0}"
fi
stamp="$venv/.monai_ext_installed"
if [[ ! -f "$stamp" || "$root/setup.cfg" -nt "$stamp" ]]; then
  "$venv/bin/pip" install -q -e "$root[test,deploy]"
  touch "$stamp"
fi
echo "$venv"
