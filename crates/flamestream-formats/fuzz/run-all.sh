#!/usr/bin/env bash
# Runs every fuzz target of flamestream-formats and flamestream-jfr one after the other, one job
# each, for the given number of seconds (default: the per-target times in the README).
# Logs go to $LOG_DIR (default target/fuzz/logs); crashers to each crate's fuzz/artifacts/.
# Each run starts from corpus/<target> plus the committed minimized-corpus/<target>.tar.xz
# (keep-corpus.sh writes it) and seeds/<target>.
#
#   crates/flamestream-formats/fuzz/run-all.sh            # README durations
#   SECS=60 crates/flamestream-formats/fuzz/run-all.sh    # 60 s each
#   crates/flamestream-formats/fuzz/run-all.sh trie tree  # only some targets
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/fuzz}
LOG_DIR=${LOG_DIR:-$CARGO_TARGET_DIR/logs}
mkdir -p "$LOG_DIR"

# target  crate   seconds  max_len
PLAN="
jfr            jfr      300 65536
jfr_labels     jfr      180 65536
pprof          formats  300 32768
pprof_validate formats  180 32768
folded         formats  120 4096
lines          formats  120 4096
trie           formats  180 4096
tree           formats  180 4096
speedscope     formats  180 4096
push           formats  180 8192
multipart      formats  180 8192
gunzip         formats  150 4096
"

only=" $* "
echo "$PLAN" | while read -r target crate secs maxlen; do
  [ -z "$target" ] && continue
  if [ $# -gt 0 ] && [[ "$only" != *" $target "* ]]; then continue; fi
  secs=${SECS:-$secs}
  dir=$ROOT/crates/flamestream-$crate/fuzz
  mkdir -p "$dir/corpus/$target"
  # What earlier runs learned, kept by keep-corpus.sh (files are named by content, so
  # unpacking into a grown corpus only adds what it lacks).
  archive=$dir/minimized-corpus/$target.tar.xz
  [ -f "$archive" ] && tar -xJf "$archive" -C "$dir/corpus" --skip-old-files
  # A dictionary of the words the decoder compares input against, when the target has one.
  dict=()
  [ -f "$dir/dicts/$target.dict" ] && dict=("-dict=dicts/$target.dict")
  echo "== $target ($crate) ${secs}s, start $(date +%T)${dict:+ with ${dict[0]#-dict=}}"
  start=$(date +%s)
  (cd "$dir" && cargo fuzz run -s none -a "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$secs" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 "${dict[@]}") >"$LOG_DIR/$target.log" 2>&1
  rc=$?
  end=$(date +%s)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOG_DIR/$target.log" | grep -o '[0-9]*$')
  last=$(grep -E '#[0-9]+' "$LOG_DIR/$target.log" | tail -1)
  echo "   rc=$rc wall=$((end - start))s execs=${execs:-?} last: $last"
done
