#!/usr/bin/env bash
# Installs everything the tests need, builds berth and runs every test:
#   1. gcc build with -Werror: unit tests (cmocka), fuzz corpus replay,
#      integration tests (pytest, real berthd + real docker CLI);
#   2. clang build with ASan + UBSan in build-san/: the same tests again,
#      then a short libFuzzer run of each target (HTTP, references, layer tars, DNS messages).
# Environment: BERTH_FUZZ_SECONDS (per target, default 20), BERTH_SKIP_SANITIZERS=1.
# Run as root. Prints each runner's summary and a last "N passed, N failed".
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
fail=0

step() { printf '\n==== %s ====\n' "$*"; }

step "dependencies"
contrib/install-deps.sh --test || exit 1

step "build (gcc, -Werror)"
contrib/build.sh || exit 1

# Each runner's own output (cmocka, pytest, replay), then automake's verdicts.
show_logs() {
    local dir=$1
    for log in "$dir"/test/unit/*.log "$dir"/test/fuzz/*.log "$dir"/test/integration/*.log; do
        [ -f "$log" ] || continue
        case "$log" in */test-suite.log) continue ;; esac
        echo "---- ${log#$dir/}"
        cat "$log"
    done
}

step "tests (gcc build)"
make -j2 check >/dev/null 2>&1 || fail=1
show_logs "$src"
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$src/test-suite.log" 2>/dev/null || true

if [ "${BERTH_SKIP_SANITIZERS:-0}" != 1 ]; then
    step "build (clang, ASan + UBSan, fuzzers) in build-san/"
    san="$src/build-san"
    rm -rf "$san"
    mkdir -p "$san"
    git ls-files -co --exclude-standard | grep -v '^build-san/' | tar -cf - -T - | tar -xf - -C "$san"
    (cd "$san" && autoreconf -fi >/dev/null 2>&1 &&
        CC=clang ./configure --enable-werror --enable-sanitizers --enable-fuzzers >/dev/null &&
        make -j"$(nproc)" >/dev/null) || { echo "sanitizer build failed"; exit 1; }

    step "tests (ASan + UBSan build)"
    (cd "$san" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        make -j2 check >/dev/null 2>&1) || fail=1
    show_logs "$san"

    for target in http reference tar dns; do
        step "fuzz: $target for ${BERTH_FUZZ_SECONDS:-20}s"
        corpus=$(mktemp -d)
        dict=()
        [ -f "$src/test/fuzz/$target.dict" ] && dict=(-dict="$src/test/fuzz/$target.dict")
        if "$san/test/fuzz/fuzz_$target" -max_total_time="${BERTH_FUZZ_SECONDS:-20}" -timeout=10 \
            -rss_limit_mb=2048 "${dict[@]}" -print_final_stats=1 \
            "$corpus" "$src/test/fuzz/corpus/$target" >"$san/fuzz-$target.log" 2>&1; then
            echo "fuzz $target: $(find "$corpus" -type f | wc -l) new inputs, no crash"
        else
            tail -n 40 "$san/fuzz-$target.log"
            fail=1
        fi
        rm -rf "$corpus"
    done
fi

step "summary"
# Add up every runner's own count (cmocka, pytest, replay, fuzz).
logs=$(show_logs "$src"; [ -d "$src/build-san" ] && show_logs "$src/build-san"; \
       for t in http reference tar dns; do
           f="$src/build-san/fuzz-$t.log"
           [ -f "$f" ] || continue
           if grep -q '^Done' "$f"; then echo "fuzz: 1 passed, 0 failed"; else echo "fuzz: 0 passed, 1 failed"; fi
       done)
passed=$( { printf '%s\n' "$logs" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p';
            printf '%s\n' "$logs" | grep -E '^=+ .*(passed|failed).* in ' | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+';
            printf '%s\n' "$logs" | grep -E '^(fuzz: )?[0-9]+ passed, [0-9]+ failed$' | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+'; } | awk '{s+=$1} END {print s+0}')
failed=$( { printf '%s\n' "$logs" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p';
            printf '%s\n' "$logs" | grep -E '^=+ .*(passed|failed).* in ' | grep -oE '[0-9]+ (failed|error)' | grep -oE '[0-9]+';
            printf '%s\n' "$logs" | grep -E '^(fuzz: )?[0-9]+ passed, [0-9]+ failed$' | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+'; } | awk '{s+=$1} END {print s+0}')
[ "$fail" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
exit "$fail"
