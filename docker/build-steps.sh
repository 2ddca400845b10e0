#!/usr/bin/env bash
# The image's build steps, in one place: docker/Dockerfile runs them in its build stage, and
# docker/check runs the same ones on this machine (with its own scratch path).
#
#   docker/build-steps.sh deps               install libnng-dev if it is missing (Debian, root)
#   docker/build-steps.sh resolve [SCRATCH]  fetch the Swift package dependencies
#   docker/build-steps.sh build OUT [SCRATCH]
#       build thermoshard (release, Swift runtime and Foundation linked statically) and put
#       OUT/bin/thermoshard and, when the toolchain has it, OUT/libexec/swift-backtrace-static
#
# SCRATCH is SwiftPM's scratch path (default: <repo>/.build).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
step="${1:-}"

swiftpm_flags() { echo --package-path "$repo" --scratch-path "$1"; }

case "$step" in
  deps)
    if [ ! -e /usr/include/nng/nng.h ]; then
      sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libnng-dev >/dev/null
    fi
    ;;
  resolve)
    scratch="${2:-$repo/.build}"
    # shellcheck disable=SC2046
    swift package $(swiftpm_flags "$scratch") resolve
    ;;
  build)
    out="${2:?usage: build-steps.sh build OUT [SCRATCH]}"
    scratch="${3:-$repo/.build}"
    # --static-swift-stdlib links the Swift runtime, Dispatch and Foundation (with its ICU data)
    # into the binary; what stays dynamic is glibc, libstdc++/libgcc_s and libnng (+ mbedtls),
    # all of which debian:bookworm-slim plus libnng1 provide.
    # shellcheck disable=SC2046
    swift build $(swiftpm_flags "$scratch") -c release --product thermoshard --static-swift-stdlib
    # shellcheck disable=SC2046
    bin="$(swift build $(swiftpm_flags "$scratch") -c release --show-bin-path)"
    mkdir -p "$out/bin"
    install -m 0755 "$bin/thermoshard" "$out/bin/thermoshard"
    # DWARF off (85 -> 77 MB); symbols stay, so crash backtraces still name functions.
    if command -v strip >/dev/null 2>&1; then strip --strip-debug "$out/bin/thermoshard"; fi
    # The backtracer a statically linked binary needs to print a crash's backtrace
    # (SWIFT_BACKTRACE in the Dockerfile points at it).
    backtracer="$(dirname "$(dirname "$(command -v swift)")")/libexec/swift/linux/swift-backtrace-static"
    if [ -x "$backtracer" ]; then
      mkdir -p "$out/libexec"
      install -m 0755 "$backtracer" "$out/libexec/swift-backtrace-static"
    fi
    ;;
  *)
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
