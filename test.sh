#!/usr/bin/env bash
# Run the test suite (sets up ./.venv first when needed). Extra arguments go to pytest.
# DVCP_DATA=/path/to/data (holding train/ and val/) enables the tests on real footage.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --no-run
exec .venv/bin/python -m pytest "$@"
