#!/usr/bin/env bash
# Cao et al.'s CIFAR-10-LT recipe end to end (experiments/cao2019_ldam.py at IMBJAX_SCALE=paper: ResNet-32
# with BatchNorm, SGD with warm-up and step decay, weight decay, crop + flip, epochs, LDAM-DRW and its
# comparators, 3 seeds), then its report against the published errors in the config's docstring.
#
#   TFDS_DATA_DIR=DIR bash scripts/gpu_bench_cifar10_lt.sh [WORKDIR]
#
# Needs a GPU (nvidia-smi) and CIFAR-10 prepared in array_record format under TFDS_DATA_DIR (see
# imbjax/data/tfds_loader.py). Utilisation is sampled every 5 s into WORKDIR/nvidia_smi.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
workdir="${1:-runs/cao2019_ldam_paper}"
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu_bench_cifar10_lt: no GPU here (nvidia-smi not found); this recipe is sized for an accelerator" >&2
  exit 2
fi
if [[ -z "${TFDS_DATA_DIR:-}" || ! -d "${TFDS_DATA_DIR}" ]]; then
  echo "gpu_bench_cifar10_lt: set TFDS_DATA_DIR to a directory holding cifar10 in array_record format" >&2
  exit 2
fi
mkdir -p "$workdir"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > "$workdir/nvidia_smi.csv" &
sampler=$!
trap 'kill $sampler 2>/dev/null || true' EXIT
IMBJAX_SCALE=paper imbjax run experiments/cao2019_ldam.py --workdir "$workdir"
imbjax report "$workdir" --out "$workdir/report" --baseline baseline --metric accuracy --metric balanced_accuracy
