#!/usr/bin/env bash
# Installs everything the tests need, builds berth and runs every test:
#   1. gcc build with -Werror: unit tests (cmocka), fuzz corpus replay,
#      integration tests (pytest, real berthd + real docker CLI);
#   2. clang build with ASan + UBSan in build-san/: the same tests again,
#      then a short libFuzzer run of the HTTP target.
# Environment: BERTH_FUZZ_SECONDS (default 30), BERTH_SKIP_SANITIZERS=1.
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

    step "fuzz: HTTP parsing and routing for ${BERTH_FUZZ_SECONDS:-30}s"
    corpus=$(mktemp -d)
    if "$san/test/fuzz/fuzz_http" -max_total_time="${BERTH_FUZZ_SECONDS:-30}" -timeout=10 \
        -rss_limit_mb=2048 -dict="$src/test/fuzz/http.dict" -print_final_stats=1 \
        "$corpus" "$src/test/fuzz/corpus/http" >"$san/fuzz.log" 2>&1; then
        echo "fuzz: $(grep -c . <(ls "$corpus")) new inputs, no crash"
        echo "fuzz: 1 passed, 0 failed"
    else
        tail -n 40 "$san/fuzz.log"
        echo "fuzz: 0 passed, 1 failed"
        fail=1
    fi
    rm -rf "$corpus"
fi

step "summary"
# Add up every runner's own count (cmocka, pytest, replay, fuzz).
logs=$(show_logs "$src"; [ -d "$src/build-san" ] && show_logs "$src/build-san"; \
       [ -f "$src/build-san/fuzz.log" ] && grep -q 'Done' "$src/build-san/fuzz.log" && echo "fuzz: 1 passed, 0 failed")
passed=$( { printf '%s\n' "$logs" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p';
            printf '%s\n' "$logs" | grep -E '^=+ .*(passed|failed).* in ' | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+';
            printf '%s\n' "$logs" | grep -E '^(fuzz: )?[0-9]+ passed, [0-9]+ failed$' | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+'; } | awk '{s+=$1} END {print s+0}')
failed=$( { printf '%s\n' "$logs" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p';
            printf '%s\n' "$logs" | grep -E '^=+ .*(passed|failed).* in ' | grep -oE '[0-9]+ (failed|error)' | grep -oE '[0-9]+';
            printf '%s\n' "$logs" | grep -E '^(fuzz: )?[0-9]+ passed, [0-9]+ failed$' | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+'; } | awk '{s+=$1} END {print s+0}')
[ "$fail" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
exit "$fail"
