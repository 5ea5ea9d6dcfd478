#!/usr/bin/env bash
# Sets this checkout up on a Debian/Ubuntu machine: the system packages the tests and demo need
# (installed with apt-get when run as root, otherwise named so you can install them), then a
# virtual environment in .venv (or $VIGIA_VENV) with vigia[all,dev] installed from this folder.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VIGIA_VENV:-.venv}

# Each line: a shell probe that succeeds when the need is met, then the Debian package for it.
REQUIREMENTS=(
  "$PYTHON -c 'import sys; sys.exit(sys.version_info < (3, 11))'|python3"
  "$PYTHON -c 'import venv, ensurepip'|python3-venv"
  # The video server's tests play its streams with real clients; its benchmark runs GStreamer's
  # RTSP server (through Debian's python3 and its gi bindings) as the baseline.
  "command -v ffprobe && command -v ffmpeg|ffmpeg"
  "command -v gst-launch-1.0|gstreamer1.0-tools"
  "gst-inspect-1.0 rtspsrc && gst-inspect-1.0 jpegdec|gstreamer1.0-plugins-good"
  "gst-inspect-1.0 videoconvert|gstreamer1.0-plugins-base"
  "/usr/bin/python3 -c 'import gi'|python3-gi"
  "/usr/bin/python3 -c 'import gi; gi.require_version(\"GstRtspServer\", \"1.0\")'|gir1.2-gst-rtsp-server-1.0"
  # The trainer's tests, benchmark and demo learn Fashion-MNIST from Debian's package.
  "test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz|dataset-fashion-mnist"
  # The watcher is a Tk app; its GUI test and benchmark run it under a private Xvfb display.
  "$PYTHON -c 'import tkinter'|python3-tk"
  "command -v Xvfb|xvfb"
  "command -v dot|graphviz"  # docs/diagrams/render.py draws the *.dot diagrams with it
)

missing=()
for requirement in "${REQUIREMENTS[@]}"; do
  probe=${requirement%|*}
  package=${requirement##*|}
  if ! bash -c "$probe" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
if ! $PYTHON -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Vigía needs Python 3.11 or newer; $PYTHON is $($PYTHON -V 2>&1)." >&2
  echo "setup: set PYTHON=/path/to/python3.11 (or newer) and run again." >&2
  exit 1
fi

if [[ ! -x $VENV/bin/python || ! -x $VENV/bin/pip ]]; then
  # --clear: a creation cut short leaves a venv without pip, which is made again.
  echo "setup: creating the virtual environment in $VENV"
  $PYTHON -m venv --clear "$VENV"
fi
echo "setup: installing vigia[all,dev] into $VENV (TensorFlow makes the first run take a minute)"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -e ".[all,dev]"
echo "setup: done"
