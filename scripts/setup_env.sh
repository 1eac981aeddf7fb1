#!/usr/bin/env bash
# Creates (once) the project's virtual environment in .venv and installs monai_ext with its test, deploy and study
# extras (deploy: onnx, onnxscript, onnxruntime, openvino; study: ray, matplotlib), which their tests need, and
# nnU-Net v2 for the test that reads our nnU-Net export back with nnU-Net's own checks.
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
  "$venv/bin/pip" install -q -e "$root[test,deploy,study]"
  # nnunetv2's own requirements pull the newest torch, a CUDA build: install it without them, and the few of them
  # its dataset checks import, which accept the torch already installed
  "$venv/bin/pip" install -q --no-deps "nnunetv2==2.8.1"
  "$venv/bin/pip" install -q "acvl-utils>=0.2" "batchgenerators>=0.25" blosc2 SimpleITK
  touch "$stamp"
fi
echo "$venv"
