#!/usr/bin/env bash
# Wheels for a lent GPU machine: its image's python3 (3.12) has JAX with CUDA, Flax, optax,
# orbax, pandas, scikit-learn, SciPy, matplotlib and rich, but not imbjax's pure-Python
# dependencies ml_collections, evosax, dotmap and mnist1d (../.library/device/KINDS.md; mnist1d for
# scripts/gpu_bench.sh's MNIST-1D CNN workload). Run this here,
# where pip can reach the registry; it downloads the versions installed in .venv (or python3's)
# into .whl/ (git-ignored). Then name ".whl" in the device run's `carry`:
# scripts/gpu_bench.sh installs what it finds there before it starts.
#
#   scripts/device_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
REQUIREMENTS=()
for package in ml_collections evosax dotmap mnist1d; do
  REQUIREMENTS+=("$package==$("$PY" -c "from importlib.metadata import version; print(version('$package'))")")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${REQUIREMENTS[@]}"
ls -l .whl
