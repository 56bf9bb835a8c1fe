#!/usr/bin/env bash
# Starts the AMI Data Companion's own API (ADC: RolnickLab/ami-data-companion, `trapdata.api.api:app`) offline, on
# checkpoints from a folder, as the reference that our /process is compared with. No ADC file is changed.
#
#   scripts/adc/run-adc.sh ADC_SOURCE CHECKPOINTS PORT
#
#   ADC_SOURCE   a checkout of ADC (read at a33746a2); never committed here
#   CHECKPOINTS  a folder of ADC's weights and category-map files under the basenames of ADC's URLs, e.g. from
#                scripts/adc/make-checkpoints.py
#   PORT         ADC listens on 127.0.0.1:PORT, in the foreground; it answers GET /livez once every model is loaded
#                (ADC loads all of them, for /info, before it listens)
#   ADC_STATE    (environment) where the venv and ADC's TORCH_HOME live; default scratch/adc in this repository (ignored by git)
#
# Python: ADC asks for torch>=2.5, but the wheel indexes here hold only CUDA builds of torch/torchvision, so this
# uses Debian's python3-torch 1.13 and python3-torchvision 0.14 (installed with apt-get when missing) through a venv
# with --system-site-packages, plus ADC's other dependencies at pinned versions. ADC's API code runs unchanged on them.
#
# Offline: ADC reads each file at $TORCH_HOME/hub/models/<basename of its URL> before it would download it, so that
# folder holds symlinks to CHECKPOINTS (ADC rewrites the Panama 2023 category map in place; the symlink keeps the
# folder itself untouched). The detector and the Turing ResNet-50 first load torchvision's ImageNet ResNet-50
# weights, which ADC's checkpoint then replaces entirely, so random files stand in for them in hub/checkpoints.
# sentry_sdk (ADC reports to its own DSN) and sqlalchemy_utils (not in the indexes, used only by ADC's database
# models) are stand-ins from scripts/adc/stand-ins.
set -euo pipefail

if [ $# -ne 3 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
src=$(realpath "$1")
checkpoints=$(realpath "$2")
port=$3
here=$(dirname "$(realpath "$0")")
state=$(realpath -m "${ADC_STATE:-$here/../../scratch/adc}")
python=$state/venv/bin/python
[ -f "$src/trapdata/api/api.py" ] || { echo "run-adc: $src is not an ADC checkout" >&2; exit 2; }

# Debian's torch calls BLAS through libblas.so.3, which is the reference BLAS unless an optimised one is installed:
# with it, the detector's box-head Linear layers alone take tens of seconds per image. ADC's own wheels bring MKL,
# so OpenBLAS stands in for it and a comparison with ADC is not one against a handicapped PyTorch.
blas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if ! /usr/bin/python3 -c 'import torch, torchvision, ensurepip' 2>/dev/null || [ ! -e "$blas" ]; then
  echo "run-adc: installing Debian's python3-torch, python3-torchvision, python3-venv and OpenBLAS" >&2
  apt-get update -qq >&2
  apt-get install -y -qq python3-torch python3-torchvision python3-venv libopenblas0-pthread >&2
fi

if [ ! -x "$python" ]; then
  echo "run-adc: creating $state/venv" >&2
  /usr/bin/python3 -m venv --system-site-packages "$state/venv"
  pins=$state/constraints.txt
  # numpy stays Debian's: the torch it comes with is built against it.
  /usr/bin/python3 -c 'import numpy; print(f"numpy=={numpy.__version__}")' > "$pins"
  indexes=(--index-url file:///opt/pypi/simple --extra-index-url file:///opt/pypi-more/simple)
  "$python" -m pip install -q "${indexes[@]}" -c "$pins" fastapi==0.142.2 uvicorn==0.54.0 pydantic==2.13.5 \
    pydantic-settings==2.15.0 structlog==26.1.0 rich==15.0.0 SQLAlchemy==2.0.54 alembic==1.20.0 \
    python-dateutil imagesize==2.0.1 pandas==2.2.3 requests pillow==11.3.0 python-dotenv pyyaml \
    huggingface_hub==2.0.0 safetensors==0.8.0 >&2
  # --no-deps: timm's own requirements would pull a torch from the index over Debian's.
  "$python" -m pip install -q "${indexes[@]}" --no-deps timm==1.0.29 >&2
fi

# One TORCH_HOME per checkpoint folder: this script relinks hub/models on every start and ADC reads the files again
# on every request, so two ADCs sharing one hub folder would silently serve each other's checkpoints.
torch_home=$state/torch/$(printf '%s' "$checkpoints" | sha1sum | cut -c1-12)
hub=$torch_home/hub
rm -rf "$hub/models"
mkdir -p "$hub/models" "$hub/checkpoints" "$state/config" "$state/run"
ln -s "$checkpoints"/* "$hub/models/"
for name in resnet50-0676ba61.pth resnet50-11ad3fa6.pth; do
  [ -f "$hub/checkpoints/$name" ] || "$python" -c \
    'import sys, torch, torchvision; torch.save(torchvision.models.resnet50().state_dict(), sys.argv[1])' \
    "$hub/checkpoints/$name"
done

# ADC reads settings from ./.env and AMI_* variables, and keeps its database under $XDG_CONFIG_HOME/AMI.
cd "$state/run"
export TORCH_HOME=$torch_home XDG_CONFIG_HOME=$state/config PYTHONPATH=$here/stand-ins:$src
# PyPI's torch, which ADC pins, runs an intra-op thread per core; Debian's starts with one.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
# OpenBLAS even where another BLAS is Debian's current alternative.
[ -e "$blas" ] && export LD_PRELOAD=$blas${LD_PRELOAD:+:$LD_PRELOAD}
exec "$python" -m uvicorn trapdata.api.api:app --host 127.0.0.1 --port "$port"
