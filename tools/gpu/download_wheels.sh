#!/usr/bin/env bash
# Download exactly what tools/gpu_check.sh installs on a bare, offline GPU
# machine with its own PyTorch + CUDA (Python 3.12, x86-64): the pure-Python
# OpenMMLab stack and the few compiled packages that machine lacks, as cp312
# manylinux wheels, plus the mmcv 2.1.0 source (built there without ops; the
# ops come from torchvision, see tools/gpu/mmcv_ext_torchvision.py, or are
# compiled there with --build-mmcv). Run here, with a package registry:
#     bash tools/gpu/download_wheels.sh [DEST=.gpu_wheels] [PYVER=3.12]
# DEST is git-ignored; name it in the device tool's `carry`.
set -euo pipefail
DEST=${1:-.gpu_wheels}
PYVER=${2:-3.12}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$DEST"
# Python-version-specific wheels (the machine has torch, torchvision, numpy,
# scipy, matplotlib, opencv-python-headless, numba, pandas, rich, pyyaml,
# tqdm, six, pillow, packaging, tifffile: they are not downloaded)
WHEELS=(mmengine==0.10.7 mmdet==3.3.0 pycocotools==2.0.11 shapely==2.2.0
        ensemble-boxes==1.0.9 addict==2.4.0 yapf==0.43.0 termcolor==3.3.0
        terminaltables==3.1.10 platformdirs==4.14.9
        setuptools==80.10.2)  # pkg_resources for mmengine and mmcv's setup.py
"$PY" -m pip download -q --no-deps --only-binary=:all: \
    --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$DEST" "${WHEELS[@]}"
# metadata of the sdist is read by running its setup.py: needs setuptools<81
# (pkg_resources) and torch in that Python, hence no build isolation
"$PY" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation \
    -d "$DEST" mmcv==2.1.0
printf '%s\n' "${WHEELS[@]}" mmcv==2.1.0 > "$DEST/LIST.txt"
ls -la "$DEST"
du -sh "$DEST"
