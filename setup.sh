#!/usr/bin/env bash
# Set up dvcp in ./.venv (Python >= 3.12, the package and its test/video/cluster/scenes/chain extras) and run the demo.
#   ./setup.sh            set up, then run `dvcp demo`
#   ./setup.sh --no-run   set up only (used by ./test.sh)
# DVCP_PYTHON=/path/to/python3.12 chooses the interpreter; DVCP_NO_APT=1 skips installing ffmpeg.
set -euo pipefail
cd "$(dirname "$0")"

run_demo=1
[ "${1:-}" = "--no-run" ] && run_demo=0

is_suitable() {  # prints the interpreter's path when it is Python >= 3.12
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && command -v "$1"
}

find_python() {
    local candidate root
    if [ -n "${DVCP_PYTHON:-}" ]; then
        is_suitable "$DVCP_PYTHON" && return 0
        echo "setup: DVCP_PYTHON=$DVCP_PYTHON is not a Python 3.12 or newer" >&2
        return 1
    fi
    for candidate in python3.14 python3.13 python3.12 python3; do
        command -v "$candidate" >/dev/null 2>&1 && is_suitable "$candidate" && return 0
    done
    root="${PYENV_ROOT:-$HOME/.pyenv}"
    for candidate in $(ls -d "$root"/versions/3.* 2>/dev/null | sort -V -r); do
        is_suitable "$candidate/bin/python3" && return 0
    done
    return 1
}

if ! python=$(find_python); then
    cat >&2 <<'MSG'
setup: no Python 3.12 or newer found (looked for python3.14/3.13/3.12/python3 on PATH and under
pyenv's versions/). The VapourSynth wheels on PyPI need Python 3.12+. Install one (for example
`pyenv install 3.12`) or point DVCP_PYTHON at it, then run ./setup.sh again.
MSG
    exit 1
fi

if [ ! -x .venv/bin/python ] || ! is_suitable .venv/bin/python >/dev/null; then
    echo "setup: creating .venv with $python ($("$python" --version))" >&2
    rm -rf .venv
    "$python" -m venv .venv
fi

stamp=.venv/.dvcp-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing dvcp-plugin and its dependencies into .venv (torch is a few GB)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test,video,cluster,scenes,chain]"
    echo "$wanted" > "$stamp"
fi
# register this environment's VSScript with VapourSynth so that .venv/bin/vspipe runs scripts
.venv/bin/vapoursynth config >/dev/null

if ! command -v ffmpeg >/dev/null 2>&1 && [ -z "${DVCP_NO_APT:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ffmpeg (video output) with apt-get" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg; } \
            >/dev/null 2>&1 || echo "setup: could not install ffmpeg; video output is disabled" >&2
    else
        echo "setup: ffmpeg not found; install it for video output (frame folders work without)" >&2
    fi
fi

if [ "$run_demo" = 1 ]; then
    # colours a generated sample shot; writes ./dvcp-demo/ and prints where everything is
    exec .venv/bin/dvcp demo
fi
