#!/usr/bin/env bash
# Keeps what a fuzz run learned. The grown corpus (corpus/<target>) is git-ignored and goes with
# the machine; this minimizes it into minimized-corpus/<target>.tar.xz, which is committed, and
# run-all.sh unpacks that archive into corpus/<target> before each run, so a run on a new machine
# starts where the last one stopped instead of from the seeds.
#
#   crates/flamestream-formats/fuzz/keep-corpus.sh jfr multipart   # after a run of those targets
#
# For each target it runs the built fuzz binary once with libFuzzer's -merge=1 over the seeds,
# the archive's inputs and the grown corpus, seeds first, and keeps a small set of inputs
# that covers every feature they cover together, minus the seeds themselves (they are committed
# already). The inputs are mostly mutations of a few seeds, so xz packs them ~240:1 (jfr: 1 517
# inputs, 34 MB, into 140 KB). The tar is reproducible: same inputs, same bytes.
# Needs the binaries run-all.sh builds ($CARGO_TARGET_DIR, default target/fuzz). Safe to run
# while a fuzzer runs on the same corpus.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/fuzz}
BIN_DIR=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release

[ $# -gt 0 ] || { echo "usage: $0 TARGET..." >&2; exit 2; }
for target in "$@"; do
  # The crate and max_len come from run-all.sh's plan (lines "target crate seconds max_len").
  read -r crate maxlen < <(awk -v t="$target" '$1 == t && NF == 4 { print $2, $4 }' "$HERE/run-all.sh")
  [ -n "${crate:-}" ] || { echo "keep-corpus: no target '$target' in run-all.sh's plan" >&2; exit 2; }
  dir=$ROOT/crates/flamestream-$crate/fuzz
  bin=$BIN_DIR/$target
  archive=$dir/minimized-corpus/$target.tar.xz
  [ -x "$bin" ] || { echo "keep-corpus: $bin is not built; run run-all.sh $target first" >&2; exit 1; }
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  mkdir -p "$scratch/$target" "$scratch/old" "$dir/minimized-corpus" "$dir/corpus/$target"
  [ -f "$archive" ] && tar -xJf "$archive" -C "$scratch/old"
  # Seeds go into the output directory first: -merge=1 keeps every file already there, so the
  # inputs it adds are exactly those that cover something the seeds do not.
  cp "$dir/seeds/$target"/* "$scratch/$target/"
  # Hard links: a fuzzer still running on corpus/<target> deletes the inputs it reduces.
  cp -al "$dir/corpus/$target" "$scratch/grown"
  "$bin" -merge=1 -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
    -merge_control_file="$scratch/control" "$scratch/$target" \
    "$scratch/old" "$scratch/grown" >"$scratch/merge.log" 2>&1 ||
    { tail -n 20 "$scratch/merge.log" >&2; echo "keep-corpus: merge of $target failed" >&2; exit 1; }
  for seed in "$dir/seeds/$target"/*; do rm -f "$scratch/$target/${seed##*/}"; done
  added=$(grep -o 'MERGE-OUTER: [0-9]* new files with [0-9]* new features added; [0-9]* new coverage edges' \
    "$scratch/merge.log" || true)
  inputs=$(find "$scratch/$target" -type f | wc -l)
  size=$(du -sh "$scratch/$target" | cut -f1)
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$scratch" \
    -cf - "$target" | xz -9 -T1 >"$archive.tmp"
  mv "$archive.tmp" "$archive"
  rm -rf "$scratch"
  trap - EXIT
  echo "keep-corpus: $target: $inputs inputs ($size) beyond the seeds," \
    "$(du -h "$archive" | cut -f1) as ${archive#"$ROOT"/} (${added:-merge summary not found})"
done
