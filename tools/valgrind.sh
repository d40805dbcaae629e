#!/usr/bin/env bash
# Run tools/memcheck_workload.py under valgrind's memcheck and judge the result:
# it fails on any memory error, and on any definitely lost block allocated by
# our C (a stack through csrc/). Blocks that CPython or cffi never free at exit
# are counted and listed, and not failed on. tools/cpython.supp suppresses
# errors inside the interpreter itself (see there why).
#
#   tools/valgrind.sh                      # 1000 rounds, a generated tree
#   tools/valgrind.sh --tree darknet_softmax/data/9k.tree --rounds 200
#   PYTHON=.venv/bin/python tools/valgrind.sh
#
# Arguments go to the workload. Needs valgrind and the package built (pip install).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
OUT=${VALGRIND_DIR:-$ROOT/build/valgrind}
mkdir -p "$OUT"

# PYTHONMALLOC=malloc: every Python allocation goes through malloc, so memcheck
# sees it (pymalloc's arenas would hide it, and trip false reports).
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=none --num-callers=40 \
    --suppressions="$ROOT/tools/cpython.supp" \
    --xml=yes --xml-file="$OUT/memcheck.xml" --log-file="$OUT/memcheck.log" \
    "$PYTHON" "$ROOT/tools/memcheck_workload.py" "$@"

"$PYTHON" - "$OUT/memcheck.xml" <<'EOF'
import collections
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
errors, ours, theirs = collections.Counter(), [], collections.Counter()
for error in root.iter("error"):
    kind = error.findtext("kind")
    frames = error.find("stack").findall("frame")
    mine = any((f.findtext("dir") or "").rstrip("/").endswith("csrc") for f in frames)
    if kind != "Leak_DefinitelyLost":
        errors[kind] += 1
        print(f"ERROR {kind}: {error.findtext('what') or error.find('xwhat').findtext('text')}")
        continue
    size = int(error.find("xwhat").findtext("leakedbytes"))
    if mine:
        ours.append(size)
        print(f"OUR LEAK: {error.find('xwhat').findtext('text')}")
    else:
        where = next((f.findtext("fn") for f in frames if "_cffi" in (f.findtext("fn") or "")
                      or (f.findtext("fn") or "").startswith(("Py", "_Py"))), "?")
        theirs[where] += size
supp = root.find("suppcounts")
suppressed = sum(int(p.findtext("count")) for p in supp.iter("pair"))
print(f"valgrind memcheck: {sum(errors.values())} errors, {sum(ours)} bytes definitely "
      f"lost by our code in {len(ours)} loss records")
print(f"  definitely lost by CPython or cffi at exit (not ours, not failed on): "
      f"{sum(theirs.values())} bytes " + ", ".join(f"{fn} {n}" for fn, n in theirs.most_common(4)))
print(f"  suppressions (valgrind's own for glibc and ld.so, and tools/cpython.supp) "
      f"matched {suppressed} times: " + ", ".join(
          f"{p.findtext('name')} {p.findtext('count')}" for p in supp.iter("pair")
          if not (p.findtext("name") or "").startswith("dl-")))
sys.exit(1 if errors or ours else 0)
EOF
