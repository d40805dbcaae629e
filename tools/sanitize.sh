#!/usr/bin/env bash
# Build the extension with AddressSanitizer and UndefinedBehaviorSanitizer and
# run the whole test suite against it, in a copy of the tree under
# build/sanitize (so the normal in-place build is never touched).
#
#   tools/sanitize.sh               # the whole suite
#   tools/sanitize.sh -k tree       # extra arguments go to pytest
#   PYTHON=.venv/bin/python tools/sanitize.sh
#   SANITIZER=thread tools/sanitize.sh tests/test_threads.py   # ThreadSanitizer instead
#
# Needs gcc (or clang, with CC=clang) and a Python with numpy, cffi, setuptools,
# pytest and hypothesis (the README's test venv has them all). Exits non-zero,
# and says so, on any test failure or sanitizer report.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SANITIZER=${SANITIZER:-address}
BUILD=${SANITIZE_DIR:-$ROOT/build/sanitize-$SANITIZER}
PYTHON=${PYTHON:-python3}
# A relative path would break after the cd below (keep venv symlinks as they are).
case $PYTHON in */*) PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON") ;; esac
CC=${CC:-gcc}

rm -rf "$BUILD"
mkdir -p "$BUILD"
# The sources and tests, without any build products, venvs or the caches and
# site that the linters and the docs' builder write meanwhile in CI.
tar -C "$ROOT" --exclude=.git --exclude=.venv --exclude=build --exclude='*.so' \
    --exclude=__pycache__ --exclude='*.egg-info' --exclude=.hypothesis \
    --exclude=.pytest_cache --exclude=.mypy_cache --exclude=.ruff_cache --exclude=site \
    -cf - . | tar -C "$BUILD" -xf -

# float-cast-overflow is not part of "undefined" in gcc; float division by zero
# is left out on purpose, since IEEE inf and NaN are part of the contract.
case $SANITIZER in
    address) SANITIZE="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all"
             RUNTIME=libasan.so ;;
    thread)  SANITIZE="-fsanitize=thread" RUNTIME=libtsan.so ;;
    *) echo "SANITIZER must be address (with undefined) or thread" >&2; exit 2 ;;
esac
cd "$BUILD"
# -O0 in place of the build's -O3 (DS_OPT): under the sanitizers the vector
# kernels compile in about a minute rather than five. -g1: the line tables
# the reports' stacks need.
DS_OPT=-O0 CC=$CC CFLAGS="$SANITIZE -g1 -fno-omit-frame-pointer" LDFLAGS="$SANITIZE" \
    "$PYTHON" setup.py -q build_ext --inplace >build.log 2>&1 || { cat build.log; exit 1; }

# CPython is not built with ASan, so the runtime must be loaded before it.
# detect_leaks=0: CPython keeps its own allocations until exit (valgrind, in
# tools/valgrind.sh, checks our leaks). allocator_may_return_null=1: a huge
# allocation returns NULL, as it does without ASan, so the MemoryError paths
# are tested rather than stopped by ASan.
# ThreadSanitizer: halt at the first race; the same NULL-on-failure as ASan.
# NumPy's OpenBLAS (the tests' float64 references) runs one thread: its own
# pool is not instrumented, so TSan reports NumPy's reads after its threads'
# writes as races (test_convolutional's references, for one).
if [ "$SANITIZER" = thread ]; then export OPENBLAS_NUM_THREADS=1; fi
export LD_PRELOAD=$("$CC" -print-file-name=$RUNTIME)
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=99
export TSAN_OPTIONS=halt_on_error=1:allocator_may_return_null=1:exitcode=99
export PYTHONMALLOC=malloc   # so the sanitizer sees Python's buffers too
# Tests that start Python in another folder must import this build too, not
# an installed (unsanitized) one.
export PYTHONPATH=$BUILD${PYTHONPATH:+:$PYTHONPATH}

"$PYTHON" - <<'EOF'
import darknet_softmax._lib as lib, pathlib, os
path = pathlib.Path(lib.__file__).resolve()
assert path.is_relative_to(pathlib.Path.cwd()), f"imported the wrong build: {path}"
marker = b"__tsan_init" if os.environ["LD_PRELOAD"].endswith("libtsan.so") else b"__asan_init"
assert marker in path.read_bytes(), f"{path} is not built with the sanitizer"
print(f"sanitized build: {path}")
EOF

status=0
"$PYTHON" -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee test.log || status=$?
reports=$(grep -cE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|WARNING: ThreadSanitizer" test.log || true)
echo "sanitizer reports: $reports (pytest exit status $status); log in $BUILD/test.log"
[ "$status" -eq 0 ] && [ "$reports" -eq 0 ]
