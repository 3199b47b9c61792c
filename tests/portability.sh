#!/usr/bin/env bash
# tests/portability.sh: checks that the workspace (the gitsign library, the
# gitsign binary and the gitsign-credential-cache binary) builds for Windows
# (x86_64-pc-windows-gnu) from this Linux machine: `cargo check`, no linking,
# nothing run. It catches Unix-only code that is not behind cfg(unix)
# (docs/testing.md, docs/architecture.md). Not part of tests/run or CI.
#
# It installs nothing. It needs the Rust standard library for the target
# (`rustup target add x86_64-pc-windows-gnu`) and the mingw-w64 C compiler
# x86_64-w64-mingw32-gcc, which aws-lc-sys's build script uses (Debian and
# Ubuntu: gcc-mingw-w64-x86-64; Fedora: mingw64-gcc); without them it says
# so and exits 2.
#
# Extra arguments go to cargo (e.g. `--message-format short`). The first run
# compiles every dependency for the target; a separate CARGO_TARGET_DIR
# keeps that apart from the Linux build:
#   CARGO_TARGET_DIR=target/windows tests/portability.sh
# Exit status: cargo's, or 2 when something is missing.
set -euo pipefail

target=x86_64-pc-windows-gnu
cc=x86_64-w64-mingw32-gcc

cd "$(dirname "$0")/.."

missing=()
if ! command -v cargo >/dev/null 2>&1; then
    missing+=("cargo and rustc (https://rustup.rs)")
else
    sysroot=$(rustc --print sysroot)
    if [ ! -d "$sysroot/lib/rustlib/$target/lib" ]; then
        missing+=("the Rust standard library for $target: rustup target add $target")
    fi
fi
if ! command -v "$cc" >/dev/null 2>&1; then
    missing+=("the mingw-w64 C compiler $cc (Debian/Ubuntu: apt-get install gcc-mingw-w64-x86-64; Fedora: dnf install mingw64-gcc)")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "tests/portability.sh: cannot check the Windows build; install:" >&2
    for m in "${missing[@]}"; do
        echo "  - $m" >&2
    done
    exit 2
fi

echo "tests/portability.sh: cargo check --workspace --lib --bins --target $target" >&2
exec cargo check --workspace --lib --bins --target "$target" "$@"
