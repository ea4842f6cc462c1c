#!/usr/bin/env bash
# Measure mmsissi on a bare, offline GPU machine in under 10 minutes.
#
#   bash tools/gpu_check.sh OUT_DIR [--build-mmcv] [--dry-run] [gpu_check.py options]
#
# 1. installs mmengine, mmdet, pycocotools and the other pure-Python needs
#    from the wheels in .gpu_wheels/ (made here by
#    `bash tools/gpu/download_wheels.sh`; carry that folder), into
#    /tmp/gpu_check_site, and mmcv 2.1.0 from its source without compiled ops,
#    whose ops then come from torchvision (tools/gpu/mmcv_ext_torchvision.py,
#    installed as mmcv/_ext.py). With --build-mmcv it instead compiles
#    mmcv's CUDA ops for this GPU's architecture alone on all cores (falls
#    back to the torchvision ops if the build fails or passes BUILD_BUDGET_S);
# 2. runs tools/gpu_check.py: the op check, CUDA-vs-CPU agreement, training
#    it/s and the pseudo-label pass at full size, the quick benchmark if time
#    is left; every figure to OUT_DIR/gpu_check.json and .log.
# --dry-run: no install (the current Python's packages), every step on the
# CPU at tiny size (what the test suite runs).
set -uo pipefail
OUT=${1:?usage: tools/gpu_check.sh OUT_DIR [--build-mmcv] [--dry-run] ...}
shift
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
BUILD=0; DRY=0; REST=()
for a in "$@"; do
  case $a in
    --build-mmcv) BUILD=1 ;;
    --dry-run) DRY=1; REST+=("$a") ;;
    *) REST+=("$a") ;;
  esac
done
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
WHEELS=${GPU_CHECK_WHEELS:-$REPO/.gpu_wheels}
SITE=${GPU_CHECK_SITE:-/tmp/gpu_check_site}
BUILD_BUDGET_S=${BUILD_BUDGET_S:-360}

install_stack() {
  local t0=$SECONDS
  [ -d "$WHEELS" ] || { echo "no wheels in $WHEELS: run tools/gpu/download_wheels.sh here and carry it" | tee -a "$LOG"; return 1; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target "$SITE" "$WHEELS"/*.whl >>"$LOG" 2>&1 || return 1
  local src=/tmp/gpu_check_mmcv
  rm -rf "$src"; mkdir -p "$src"
  tar -xzf "$WHEELS"/mmcv-2.1.0.tar.gz -C "$src" || return 1
  src="$src/mmcv-2.1.0"
  export GPU_CHECK_MMCV_OPS=torchvision
  if [ $BUILD = 1 ]; then
    local arch
    arch=$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
    echo "[install] building mmcv's CUDA ops for sm $arch on $(nproc) cores" | tee -a "$LOG"
    local b0=$SECONDS
    if (cd "$src" && PYTHONPATH="$SITE" MMCV_WITH_OPS=1 FORCE_CUDA=1 \
        TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS=$(nproc) \
        timeout "$BUILD_BUDGET_S" "$PY" setup.py build_ext --inplace) >>"$LOG" 2>&1; then
      export GPU_CHECK_MMCV_OPS=compiled GPU_CHECK_BUILD_S=$((SECONDS - b0))
    else
      echo "[install] mmcv build failed or passed ${BUILD_BUDGET_S} s: torchvision ops" | tee -a "$LOG"
    fi
  fi
  rm -rf "$SITE/mmcv"
  cp -r "$src/mmcv" "$SITE/mmcv"
  if [ "$GPU_CHECK_MMCV_OPS" = torchvision ]; then
    rm -f "$SITE"/mmcv/_ext*.so
    cp "$REPO/tools/gpu/mmcv_ext_torchvision.py" "$SITE/mmcv/_ext.py"
  fi
  mkdir -p "$SITE/mmcv-2.1.0.dist-info"  # importlib.metadata finds mmcv
  printf 'Metadata-Version: 2.1\nName: mmcv\nVersion: 2.1.0\n' \
      > "$SITE/mmcv-2.1.0.dist-info/METADATA"
  : > "$SITE/mmcv-2.1.0.dist-info/RECORD"
  export GPU_CHECK_INSTALL_S=$((SECONDS - t0))
  echo "[install] done in ${GPU_CHECK_INSTALL_S} s (mmcv ops: $GPU_CHECK_MMCV_OPS)" | tee -a "$LOG"
}

if [ $DRY = 0 ]; then
  install_stack || { echo "[install] failed, see $LOG" | tee -a "$LOG"; exit 1; }
  export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
  "$PY" -c "import mmcv.ops, mmdet, mmengine; from mmcv.ops import nms, RoIAlign" \
      >>"$LOG" 2>&1 || { echo "[install] the stack does not import, see $LOG"; exit 1; }
fi
export PYTHONUNBUFFERED=1
cd "$REPO" && "$PY" tools/gpu_check.py --out "$OUT" "${REST[@]}"
