#!/usr/bin/env bash
# The hypothesis fuzzers of tests/test_fuzz.py with thousands of inputs each
# (CI runs 100 each), printing how many inputs each test ran and how they ended.
#
#   tools/fuzz.sh              # 5000 inputs per fuzzer
#   tools/fuzz.sh 20000 -k cfg # a count, then pytest arguments
#   FUZZ_EXAMPLES=3000 tools/sanitize.sh tests/test_fuzz.py --runslow   # under ASan + UBSan
# The fuzzers are marked slow, which a plain pytest run skips: --runslow runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_EXAMPLES=${1:-5000}
shift || true
exec "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider tests/test_fuzz.py --runslow \
    --hypothesis-show-statistics "$@"
