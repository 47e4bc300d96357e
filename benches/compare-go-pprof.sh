#!/usr/bin/env bash
# Go's pprof parser vs ours, in the same run, on the same files and the same N:
#   Go:   github.com/google/pprof/profile.Parse (gunzip + parse)          benches/go-pprof
#   ours: capped gunzip + decode + aggregate                              benches/src/bin/decode_timing.rs
# and prints Go ns/op ÷ our ns/op per file (goal: ≥ 6×, i.e. ours at least 6× faster). Exits
# non-zero only when something is missing or fails, not when the goal is missed.
#
#   benches/compare-go-pprof.sh                 # the Go pprof fixtures, N=200, 5 rounds, 3 passes
#   N=500 ROUNDS=3 PASSES=5 benches/compare-go-pprof.sh FILE...
#
# Each pass runs the Go program, then ours (each: per file, one warm-up round then ROUNDS
# rounds of N calls, median ns/op); the table shows medians over passes, the ratio being the
# median of the per-pass ratios. Go's garbage collector runs on other threads (GOMAXPROCS =
# all cores), so Go's figure includes some parallel work; ours is single-threaded.
#
# Installs nothing: Go and github.com/google/pprof come from Debian
# (ops/install-clients.sh, or apt-get install golang-go golang-github-google-pprof-dev).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${N:-200}"
ROUNDS="${ROUNDS:-5}"
PASSES="${PASSES:-3}"
GOAL=6
GOPATH_DEBIAN=/usr/share/gocode
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

die() {
    printf 'compare-go-pprof: %s\n' "$*" >&2
    exit 1
}

command -v go >/dev/null ||
    die "\`go\` not found: run ops/install-clients.sh (or apt-get install golang-go golang-github-google-pprof-dev)"
[[ -d "$GOPATH_DEBIAN/src/github.com/google/pprof/profile" ]] ||
    die "github.com/google/pprof not found in $GOPATH_DEBIAN: run ops/install-clients.sh (or apt-get install golang-github-google-pprof-dev)"
command -v cargo >/dev/null || die "\`cargo\` not found"

if [[ $# -gt 0 ]]; then
    FILES=("$@")
else
    FILES=(
        "$ROOT/tests/fixtures/google-pprof/internal/report/testdata/sample.cpu"
        "$ROOT/tests/fixtures/parca-dev-parca/pkg/query/testdata/fib.pb.gz"
        "$ROOT/tests/fixtures/parca-dev-parca/pkg/query/testdata/alloc_objects.pb.gz"
    )
fi
for f in "${FILES[@]}"; do
    [[ -r "$f" ]] || die "cannot read \`$f\`"
done

mkdir -p "$TARGET"
GO_BIN="$TARGET/go-pprof-bench"
echo "building benches/go-pprof ($(go version | cut -d' ' -f3))" >&2
(cd "$ROOT/benches/go-pprof" && GO111MODULE=off GOPATH="$GOPATH_DEBIAN" go build -o "$GO_BIN" .)
echo "building decode_timing (production profile: fat LTO, as the Docker image)" >&2
(cd "$ROOT" && cargo build --profile production -q -p flamestream-benches --bin decode_timing)
RUST_BIN="$TARGET/production/decode_timing"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
echo "timing: $PASSES passes of (Go, then ours), each N=$N calls × median of $ROUNDS rounds per file" >&2
for pass in $(seq 1 "$PASSES"); do
    "$GO_BIN" -n "$N" -r "$ROUNDS" "${FILES[@]}" >"$OUT/go.$pass"
    "$RUST_BIN" -n "$N" -r "$ROUNDS" "${FILES[@]}" >"$OUT/ours.$pass"
    echo "  pass $pass/$PASSES done" >&2
done

# Per file: the median over passes of go ns/op, ours ns/op, and of the per-pass ratio go/ours.
printf '\nGo profile.Parse vs flamestream gunzip+decode+aggregate (N=%s, %s rounds, %s passes; medians)\n' "$N" "$ROUNDS" "$PASSES"
printf '%-24s %12s %12s %8s %18s %8s\n' file "go ns/op" "ours ns/op" "go/ours" "per pass" "≥${GOAL}×"
fail=0
for file in "${FILES[@]}"; do
    read -r go_ns ours_ns ratio passes < <(
        for pass in $(seq 1 "$PASSES"); do
            g="$(awk -F'\t' -v f="$file" '$1 == f { print $2 }' "$OUT/go.$pass")"
            o="$(awk -F'\t' -v f="$file" '$1 == f { print $2 }' "$OUT/ours.$pass")"
            [[ -n "$g" && -n "$o" ]] || die "no timing for \`$file\` in pass $pass"
            printf '%s %s\n' "$g" "$o"
        done | awk '
            function med(a, n,    i, j, t) {
                for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            { n++; g[n] = $1; o[n] = $2; r[n] = $1 / $2; list = list sprintf("%s%.2f", (n > 1 ? "," : ""), $1 / $2) }
            END { printf "%.0f %.0f %.2f %s\n", med(g, n), med(o, n), med(r, n), list }'
    )
    ok="$(awk -v r="$ratio" -v goal="$GOAL" 'BEGIN { print (r >= goal) ? "met" : "NOT met" }')"
    [[ "$ok" == met ]] || fail=1
    printf '%-24s %12s %12s %7s× %18s %8s\n' "$(basename "$file")" "$go_ns" "$ours_ns" "$ratio" "$passes" "$ok"
done
if [[ "$fail" -eq 0 ]]; then
    echo "goal (ours ≥ ${GOAL}× faster than Go's Parse) met on every file"
else
    echo "goal (ours ≥ ${GOAL}× faster than Go's Parse) NOT met on some file"
fi
