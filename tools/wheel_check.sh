#!/usr/bin/env bash
# Build the wheel, install it in a new virtual
# environment, and run the test suite against it from outside the source
# folder, so nothing in the checkout can stand in for what the wheel ships.
#
#   tools/wheel_check.sh                       # the quick suite
#   tools/wheel_check.sh --runslow             # extra arguments go to pytest
#   tools/wheel_check.sh tests/test_cli.py     # test paths are the checkout's
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
# The checkout's test paths, which pytest sees from here as absolute ones;
# without any, all of tests/.
args=()
paths=0
for arg in "$@"; do
    if [ -e "$ROOT/$arg" ]; then
        args+=("$ROOT/$arg")
        paths=1
    else
        args+=("$arg")
    fi
done
[ "$paths" = 1 ] || args+=("$ROOT/tests")
python -m pytest -q -p no:cacheprovider "${args[@]}"
