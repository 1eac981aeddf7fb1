#!/usr/bin/env bash
# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
#
# GPU check (at most 8 minutes on one GPU): full-size (256 px, 4 + 4, dim_mult 4) MGCC and MSMO training
# steps and eval forwards in fp32 and AMP (bfloat16 autocast), seconds per step and peak GPU memory, then
# 1,000-iteration research.json runs (quick.json where research.json is absent) of MGCC and of the supervised baseline
# on the breast phantom through `python -m monai.bundle run`. Figures: OUT/gpu_check.json (written after every part),
# the bundle runs' log tails: OUT/bundle_<name>.log. See scripts/gpu_check.py for what is measured.
#
# Usage: bash scripts/gpu_check.sh [OUT_DIR]          (default: $OUT, else ./gpu_check_out)
#   GPU_CHECK_TINY=1      64 px, dim_mult 0.25, 2 timed steps, 4-iteration bundle runs (a CPU test of the script)
#   GPU_CHECK_PARTS=steps only the network figures (steps, bundles: both by default)
#   GPU_CHECK_BUDGET_S=N  wall-clock budget of the whole script in seconds (default 470, wheel set-up included); the
#                         bundle runs share what the steps leave
#   PYTHON=python3.12     the interpreter (default: python3)
#
# Machines without MONAI (e.g. a bare CUDA image with only torch): carry wheels in a .whl folder at the repository
# root; this script then installs them without network access, as
#   pip install --no-index --no-deps --target /tmp/site .whl/*.whl; export PYTHONPATH=/tmp/site
# The network figures need monai (and numpy); the bundle runs need what `import monai_ext` needs as well
# (pytorch-ignite, nibabel, pillow, scipy, pydicom, highdicom and their dependencies; no mlflow unless --tracking).
# Fill the folder on a machine with network access, for the target's Python, e.g.
#   pip download --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d .whl \
#     monai==1.6.1 pytorch-ignite nibabel pillow scipy pydicom highdicom
# (then delete any torch / nvidia-* wheels it pulled in: the machine's own CUDA torch stays).
set -uo pipefail
started=$SECONDS
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${OUT:-$root/gpu_check_out}}"
python="${PYTHON:-python3}"
mkdir -p "$out"
if ! "$python" -c "import monai" >/dev/null 2>&1; then
    if compgen -G "$root/.whl/*.whl" >/dev/null; then
        site="${GPU_CHECK_SITE:-/tmp/site}"
        echo "gpu_check: MONAI not installed; installing the carried wheels of $root/.whl into $site" >&2
        if ! "$python" -m pip install --quiet --no-index --no-deps --target "$site" "$root"/.whl/*.whl; then
            # no pip on the machine: a wheel is a zip archive laid out as site-packages
            echo "gpu_check: pip install failed; unpacking the wheels into $site instead" >&2
            "$python" -c 'import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]' \
                "$site" "$root"/.whl/*.whl || echo "gpu_check: unpacking the wheels failed" >&2
        fi
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "gpu_check: MONAI is not installed and $root/.whl holds no wheels; see the header of $0" >&2
    fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
total="${GPU_CHECK_BUDGET_S:-470}"
left=$(( ${total%.*} - (SECONDS - started) ))
if (( left < 60 )); then
    echo "gpu_check: only ${left} s of the ${total} s budget left after the set-up" >&2
    left=60
fi
# the python side keeps to its budget (15 s less than what is left); the timeout only guards against a hung process
timeout --signal=TERM --kill-after=5 "$left" \
    "$python" "$root/scripts/gpu_check.py" --out "$out" --budget-s "$(( left - 15 ))"
rc=$?
echo "gpu_check: exit status $rc, figures in $out/gpu_check.json" >&2
exit "$rc"
