#!/usr/bin/env bash
# Builds the libFuzzer targets in Tests/Fuzz and runs each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # default: 60 s each, every target
#   FUZZ_BUILD_ONLY=1 scripts/fuzz.sh          # build only
#   FUZZ_JOBS=N                                # libFuzzer workers per target (default 1)
#
# SwiftPM executables bring their own `main`, which clashes with libFuzzer's, so each target is
# linked by swiftc directly. The parsers are compiled, with coverage and AddressSanitizer, as
# small subsets of their real modules under the real module names (RukoBuild, RukoShim,
# RukoSandbox), so a target says `@testable import RukoBuild` exactly like the unit tests do.
# Yams (and its C libyaml) come from the package's resolved checkout and are instrumented too.
#
# Every run starts from Tests/Fuzz/corpus/<target> (read-only: new inputs go to a scratch corpus
# under .build-fuzz) with Tests/Fuzz/<target>.dict. A crash, leak, timeout (-timeout=5) or memory
# blow-up (-rss_limit_mb=2048) leaves its input in fuzz-out/<target>/ and makes the script exit 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECONDS_EACH=${1:-60}
shift || true
ALL_TARGETS=(procfile slugignore release sshcommand template)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

SWIFT_BIN=${SWIFT_BIN:-$(dirname "$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)")}
SWIFTC="$SWIFT_BIN/swiftc"
CLANG="$SWIFT_BIN/clang"
[ -x "$SWIFTC" ] || { echo "fuzz.sh: swiftc not found (put /opt/swift/usr/bin on PATH)" >&2; exit 2; }

SCRATCH="$ROOT/.build-fuzz"
B="$SCRATCH/fuzz"
MODS="$B/modules"
OBJ="$B/obj"
OUT="$ROOT/fuzz-out"
mkdir -p "$MODS" "$OBJ" "$B/bin" "$OUT"

# Compiler flags. -O keeps Swift's bounds and overflow checks (they trap, and libFuzzer reports
# the trap as a crash); -g for symbolised stack traces.
SAN=(-sanitize=fuzzer,address)
SWIFT_FLAGS=(-O -g -parse-as-library -wmo -swift-version 6 -I "$MODS")
CFLAGS=(-O1 -g -fsanitize=fuzzer-no-link,address)

log() { printf '== %s\n' "$*" >&2; }

# The parser subsets. Keep in step with the sources: a new helper the parsers start using must be
# added here (the compile error names it).
BUILD_FILES=(BuildError SafeFile Units Procfile SlugIgnore Release)
SHIM_FILES=(ShimError SSHCommand)
SANDBOX_FILES=(RootfsTemplate UserAccount Parsing)

stamp_ok() { # stamp file, inputs... : true when the stamp is newer than every input
    local stamp=$1
    shift
    [ -f "$stamp" ] || return 1
    local f
    for f in "$@"; do [ "$f" -nt "$stamp" ] && return 1; done
    return 0
}

swift_module() { # name, swift sources...
    local name=$1
    shift
    if stamp_ok "$OBJ/$name.o" "$@" "$0"; then return; fi
    log "compile module $name"
    "$SWIFTC" "${SWIFT_FLAGS[@]}" "${SAN[@]}" "${EXTRA_SWIFT[@]}" -enable-testing -module-name "$name" \
        -emit-module -emit-module-path "$MODS/$name.swiftmodule" -emit-object -o "$OBJ/$name.o" "$@"
    touch "$OBJ/$name.o" # swiftc leaves an unchanged object file's time alone
}

find_yams() {
    local d
    for d in "$ROOT/.build/checkouts/Yams" "$SCRATCH/checkouts/Yams"; do
        [ -f "$d/Sources/Yams/Node.swift" ] && { echo "$d"; return; }
    done
    log "resolving packages into $SCRATCH (for Yams)"
    "$SWIFT_BIN/swift" package --package-path "$ROOT" --scratch-path "$SCRATCH" resolve >&2
    echo "$SCRATCH/checkouts/Yams"
}

# The subsets' file lists are names; turn them into paths.
prefix_paths() { # dir, names...
    local dir=$1
    shift
    local n
    for n in "$@"; do printf '%s\n' "$ROOT/Sources/$dir/$n.swift"; done
}

build_all() {
    EXTRA_SWIFT=()
    local yams
    yams=$(find_yams)
    # Yams imports CYaml internally, but its clients still need the module visible.
    SWIFT_FLAGS+=(-I "$yams/Sources/CYaml/include" -Xcc -DYAML_DECLARE_STATIC)
    local c
    CYAML_OBJS=()
    for c in "$yams"/Sources/CYaml/src/*.c; do
        local o="$OBJ/cyaml-$(basename "$c" .c).o"
        if ! stamp_ok "$o" "$c"; then
            log "compile $(basename "$c")"
            "$CLANG" "${CFLAGS[@]}" -DYAML_DECLARE_STATIC -I "$yams/Sources/CYaml/include" -c "$c" -o "$o"
        fi
        CYAML_OBJS+=("$o")
    done
    EXTRA_SWIFT=(-D SWIFT_PACKAGE -suppress-warnings)
    swift_module Yams "$yams"/Sources/Yams/*.swift

    mkdir -p "$B/cshims"
    local map="$B/cshims/module.modulemap"
    local want
    want=$(printf 'module _RukoCShims {\n    header "%s"\n    export *\n}\n' "$ROOT/Sources/_RukoCShims/include/ruko_shims.h")
    [ -f "$map" ] && [ "$(cat "$map")" = "$want" ] || printf '%s\n' "$want" >"$map"
    CSHIM_OBJS=()
    for c in "$ROOT"/Sources/_RukoCShims/*.c; do
        local o="$OBJ/cshims-$(basename "$c" .c).o"
        if ! stamp_ok "$o" "$c" "$ROOT/Sources/_RukoCShims/include/ruko_shims.h"; then
            log "compile _RukoCShims/$(basename "$c")"
            # Not instrumented: the clone child must not run sanitizer code (nothing here calls it).
            "$CLANG" -O1 -g -I "$ROOT/Sources/_RukoCShims/include" -c "$c" -o "$o"
        fi
        CSHIM_OBJS+=("$o")
    done

    EXTRA_SWIFT=(-I "$B/cshims")
    swift_module RukoSystem "$ROOT"/Sources/RukoSystem/*.swift
    swift_module RukoMount "$ROOT"/Sources/RukoMount/*.swift
    mapfile -t files < <(prefix_paths RukoSandbox "${SANDBOX_FILES[@]}")
    swift_module RukoSandbox "${files[@]}"
    # RukoShim and RukoBuild use RukoSandbox's ValueParser: keep the C shim module visible.
    mapfile -t files < <(prefix_paths RukoShim "${SHIM_FILES[@]}")
    swift_module RukoShim "${files[@]}"
    mapfile -t files < <(prefix_paths RukoBuild "${BUILD_FILES[@]}")
    swift_module RukoBuild "${files[@]}"
}

link_target() { # target
    local t=$1 src="$ROOT/Tests/Fuzz/Fuzz$(tr '[:lower:]' '[:upper:]' <<<"${1:0:1}")${1:1}.swift"
    [ -f "$src" ] || { echo "fuzz.sh: no fuzz target $t ($src)" >&2; exit 2; }
    local objs=() libs=()
    case $t in
    procfile | slugignore | release)
        objs=("$OBJ/RukoBuild.o" "$OBJ/Yams.o" "${CYAML_OBJS[@]}" "$OBJ/RukoSandbox.o" "$OBJ/RukoMount.o"
            "$OBJ/RukoSystem.o" "${CSHIM_OBJS[@]}") libs=(-lFoundation) ;;
    sshcommand) objs=("$OBJ/RukoShim.o" "$OBJ/RukoSandbox.o" "$OBJ/RukoMount.o" "$OBJ/RukoSystem.o" "${CSHIM_OBJS[@]}") ;;
    template) objs=("$OBJ/RukoSandbox.o" "$OBJ/RukoMount.o" "$OBJ/RukoSystem.o" "${CSHIM_OBJS[@]}") ;;
    esac
    local exe="$B/bin/fuzz-$t"
    if stamp_ok "$exe" "$src" "${objs[@]}" "$ROOT/Tests/Fuzz/FuzzSupport.swift"; then return; fi
    log "link fuzz-$t"
    "$SWIFTC" "${SWIFT_FLAGS[@]}" "${SAN[@]}" -I "$B/cshims" -module-name "Fuzz_$t" \
        "$src" "$ROOT/Tests/Fuzz/FuzzSupport.swift" "${objs[@]}" "${libs[@]}" -o "$exe" 2>&1 |
        { grep -v "Cannot export local symbol '__asan" >&2 || true; }
    [ -x "$exe" ] && [ "$exe" -nt "$src" ] || { echo "fuzz.sh: linking fuzz-$t failed" >&2; exit 2; }
}

build_all
for t in "${TARGETS[@]}"; do link_target "$t"; done
[ -n "${FUZZ_BUILD_ONLY:-}" ] && exit 0

failed=()
printf '%-11s %10s %9s %7s %7s %s\n' target execs exec/s cov ft result
for t in "${TARGETS[@]}"; do
    seeds="$ROOT/Tests/Fuzz/corpus/$t"
    work="$SCRATCH/corpus/$t"
    mkdir -p "$work" "$OUT/$t"
    dict=()
    [ -f "$ROOT/Tests/Fuzz/$t.dict" ] && dict=(-dict="$ROOT/Tests/Fuzz/$t.dict")
    logf="$OUT/$t/fuzz.log"
    # Artifacts of the previous run move aside, so what is left after this run is this run's.
    rm -rf "$OUT/$t/previous"
    mkdir -p "$OUT/$t/previous"
    find "$OUT/$t" -maxdepth 1 -type f -exec mv {} "$OUT/$t/previous/" \;
    rc=0
    # Inputs under crash-*/timeout-*/oom-* in the seed corpus are known findings kept as regression
    # inputs; they are not fed back to the fuzzer (it would stop at once on them).
    seeddir="$SCRATCH/seeds/$t"
    rm -rf "$seeddir"
    mkdir -p "$seeddir"
    find "$seeds" -maxdepth 1 -type f ! -name 'crash-*' ! -name 'timeout-*' ! -name 'oom-*' ! -name 'leak-*' \
        -exec cp {} "$seeddir/" \; 2>/dev/null || true
    # Known findings first: each crash-* input is replayed; one that still fails is reported.
    known=0 still=0
    for f in "$seeds"/crash-* "$seeds"/timeout-* "$seeds"/oom-*; do
        [ -f "$f" ] || continue
        known=$((known + 1))
        if ! SWIFT_BACKTRACE=enable=no "$B/bin/fuzz-$t" -timeout=5 -rss_limit_mb=2048 "$f" >"$OUT/$t/replay-$(basename "$f").log" 2>&1; then
            still=$((still + 1))
            echo "$t: known finding still reproduces: ${f#"$ROOT"/} ($(grep -a -m1 -oE 'INVARIANT VIOLATED \[[a-z-]+\]|ERROR: [A-Za-z]+: [a-z -]+' "$OUT/$t/replay-$(basename "$f").log" || echo crash))" >&2
        fi
    done
    # The Swift runtime's crash backtracer fights AddressSanitizer's; libFuzzer prints the trace.
    SWIFT_BACKTRACE=enable=no "$B/bin/fuzz-$t" "$work" "$seeddir" "${dict[@]}" -max_total_time="$SECONDS_EACH" -timeout=5 \
        -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$OUT/$t/" \
        ${FUZZ_JOBS:+-fork="$FUZZ_JOBS"} >"$logf" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -1 || true)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logf" | tail -1 || true)
    # -fork mode prints no final stats: take its last status line (`#N: cov: … exec/s: N`).
    [ -n "$execs" ] || execs=$(grep -aoE '^#[0-9]+' "$logf" | tail -1 | tr -d '#' || true)
    [ -n "$speed" ] || speed=$(grep -aoE 'exec/s: [0-9]+' "$logf" | tail -1 | awk '{print $2}' || true)
    cov=$(grep -aoE 'cov: [0-9]+' "$logf" | tail -1 | awk '{print $2}' || true)
    ft=$(grep -aoE 'ft: [0-9]+' "$logf" | tail -1 | awk '{print $2}' || true)
    if [ "$rc" -eq 0 ] && [ "$still" -eq 0 ]; then
        result=ok
        if [ "$known" -gt 0 ]; then
            result="ok ($known known findings no longer fail${RUKO_FUZZ_ALLOW:+ with RUKO_FUZZ_ALLOW=$RUKO_FUZZ_ALLOW})"
        fi
    elif [ "$rc" -eq 0 ]; then
        result="FAILED ($still of $known known findings still reproduce)"
        failed+=("$t")
    else
        result="FAILED (exit $rc; log $logf; input $(ls -t "$OUT/$t"/{crash,timeout,oom,leak}-* 2>/dev/null | head -1 || true))"
        failed+=("$t")
    fi
    printf '%-11s %10s %9s %7s %7s %s\n' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: findings in: ${failed[*]} (inputs and logs under fuzz-out/)" >&2
    exit 1
fi
