#!/usr/bin/env bash
# The C kernels without Python: tests/c/kernels_test.c (softmax, log_softmax
# and softmax_backward on every path against a double reference) built three
# ways and run:
#   host      csrc/*.c as the host compiles them (the portable kernels in
#             GCC's vector extensions, SSE2 on x86-64; AVX2 too where it runs);
#   plain-c   the same with the portable kernels as a compiler without those
#             extensions builds them (tests/c/plain_c.c);
#   aarch64   cross-compiled with Debian's gcc-aarch64-linux-gnu (static, so
#             qemu needs no sysroot) and run under qemu-aarch64 (NEON).
# Installs the cross compiler and qemu with apt-get when they are missing, and
# skips the aarch64 build, saying so, only when they cannot be installed.
# Exits non-zero on any failure.
#
#   tools/cross_check.sh    # CC=clang: another host compiler; CROSS: another aarch64 one
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/cross-check
CC=${CC:-gcc}
CROSS=${CROSS:-aarch64-linux-gnu-gcc}
cd "$ROOT"
mkdir -p "$BUILD"
export FLAGS="-O3 -std=c11 -Wall -Wextra -Werror -pthread -ffp-contract=off -fno-trapping-math -Icsrc"
SOURCES=(csrc/*.c tests/c/kernels_test.c)

have_cross() { command -v "$CROSS" >/dev/null && command -v qemu-aarch64 >/dev/null; }
if ! have_cross; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo -n)
    echo "cross_check: installing gcc-aarch64-linux-gnu and qemu-user (log: $BUILD/apt.log)"
    { $SUDO apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
            gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; } >"$BUILD/apt.log" 2>&1 || true
fi

# Every object is compiled once, side by side: "COMPILER TARGET SOURCE" a line.
objects() {
    local source
    for source in "${SOURCES[@]}" tests/c/plain_c.c; do echo "$CC host $source"; done
    if have_cross; then
        for source in "${SOURCES[@]}"; do echo "$CROSS aarch64 $source"; done
    fi
}
export BUILD
objects | xargs -P "$(nproc)" -L 1 sh -c 'mkdir -p "$BUILD/$1/${2%/*}" &&
    $0 $FLAGS -c "$2" -o "$BUILD/$1/$2.o" 2>"$BUILD/$1/$2.log" ||
    { echo "== $1: $2 does not compile"; cat "$BUILD/$1/$2.log"; exit 255; }'

# The host's objects, and the plain C kernels in place of the portable ones.
HOST=("${SOURCES[@]/#/$BUILD/host/}")
HOST=("${HOST[@]/%/.o}")
PLAIN=("$BUILD/host/tests/c/plain_c.c.o")
for object in "${HOST[@]}"; do
    [ "$object" = "$BUILD/host/csrc/vector_kernels_portable.c.o" ] || PLAIN+=("$object")
done
"$CC" -pthread "${HOST[@]}" -lm -o "$BUILD/host/kernels_test"
"$CC" -pthread "${PLAIN[@]}" -lm -o "$BUILD/host/kernels_test_plain_c"
status=0
echo "== host"
"$BUILD/host/kernels_test" || status=1
echo "== plain C (no vector extensions)"
"$BUILD/host/kernels_test_plain_c" || status=1
if have_cross; then
    ARM=("${SOURCES[@]/#/$BUILD/aarch64/}")
    "$CROSS" -static -pthread "${ARM[@]/%/.o}" -lm -o "$BUILD/aarch64/kernels_test"
    echo "== aarch64 (qemu-aarch64)"
    qemu-aarch64 "$BUILD/aarch64/kernels_test" || status=1
else
    echo "== aarch64: SKIPPED: $CROSS and qemu-aarch64 could not be installed" \
        "(see $BUILD/apt.log)"
fi
exit $status
