#!/usr/bin/env bash
# Build the wheel, install it in a new virtual
# environment, and run the test suite against it from outside the source
# folder, so nothing in the checkout can stand in for what the wheel ships.
#
#   tools/wheel_check.sh              # the quick suite
#   tools/wheel_check.sh --runslow    # extra arguments go to pytest
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"${PYTHON:-python3}" -m venv "$WORK/venv"
. "$WORK/venv/bin/activate"
pip install -q build
python -m build -q --wheel -o "$WORK/dist" "$ROOT" >/dev/null
wheel=$(ls "$WORK"/dist/*.whl)
echo "built $(basename "$wheel")"
pip install -q "$wheel[test]"
cd "$WORK"
python - <<'PY'
import pathlib, darknet_softmax
path = pathlib.Path(darknet_softmax.__file__)
assert "site-packages" in path.parts, f"imported {path}, not the wheel"
print(f"testing the wheel installed at {path.parent}")
PY
python -m pytest -q -p no:cacheprovider "$ROOT/tests" "$@"
