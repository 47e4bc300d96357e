#!/usr/bin/env python3
"""Writes seeds that walk every row of the pprof sample-type table (`kind_for` and
`make_profile_type` in `src/pprof/mod.rs`), for the `pprof` and `multipart` targets.

Which profile type a pprof series lands in depends on its sample type *and* the profile's
period type, and a profile has one period type. A fuzzer has to build a whole valid profile
whose string table holds, say, `itimer` at the index the period type points to before it
reaches that row; rounds 7–10 showed it finding such rows one at a time, an hour apart. These
seeds hand it every row at once, so the run spends its time on what no seed shows:

- `seeds/pprof/kinds-<period>`: a profile with period type `<period>` (one per row of the
  table, plus an empty one, an upper-case one and one `clean` has to rewrite). Under the
  period type `other`, the sample types are every name of the table; under the others, names
  no row matches, so that the period type decides.
- `seeds/pprof/kinds-<period>-prev`: the same profile with a `prev_profile` after it, split
  the way `fuzz_targets/pprof.rs` splits its input (first byte), whose series match the
  profile's by type and labels for some stacks and not for others.
- `seeds/multipart/kinds-<period>`: a multipart body (`fuzz_targets/multipart.rs`: first byte
  0 = pprof) with `profile`, `prev_profile` and a `sample_type_config` that renames, re-units,
  re-aggregates and marks types cumulative.

    crates/flamestream-formats/fuzz/kind-seeds.py     # rewrites the kinds-* seeds

Only the standard library; the protobuf is written by hand (field numbers of
`perftools.profiles.Profile`).
"""
import importlib.util
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# The multipart framing `fuzz_targets/multipart.rs` reads, as cross-seed-multipart.py writes it.
_spec = importlib.util.spec_from_file_location("cross_seed", os.path.join(HERE, "cross-seed-multipart.py"))
cross_seed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cross_seed)

# Every name `kind_for` tests a sample type against (and some it matches by prefix).
SAMPLE_TYPES = ["wall", "cpu", "CPU_nanos", "itimer", "alloc_objects", "alloc_space", "inuse_space",
                "inuse_objects", "space", "objects", "live", "malloc_objects", "malloc_bytes",
                "mutex_count", "block_count", "lock_count", "contentions", "delay", "goroutine",
                "goroutines", "exceptions", "samples", "zzz", "", "odd name:\tx"]
# Sample types no row matches, so the period type decides.
NEUTRAL = ["zzz", "samples", "alloc_objects", "contentions"]
# Every period type `kind_for` tests, plus a neutral one, an empty one and ones to clean.
PERIOD_TYPES = ["other", "wall", "WALL_clock", "cpu", "itimer", "space", "objects", "mutex", "block",
                "goroutine", "exceptions", "contentions", "", "odd period:x"]


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, value):
    """A protobuf field: int → varint, bytes/str → length-delimited."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def packed(num, values):
    return field(num, b"".join(varint(v) for v in values))


def profile(period_type, sample_types, samples, pad=0):
    """samples: [(location ids leaf first, values, thread label)]."""
    strings = [""]

    def s(text):
        if text not in strings:
            strings.append(text)
        return strings.index(text)

    out = bytearray()
    for st in sample_types:
        unit = "nanoseconds" if "cpu" in st.lower() or st == "wall" else "count"
        out += field(1, field(1, s(st)) + field(2, s(unit)))
    for locs, values, thread in samples:
        label = field(1, s("thread")) + field(2, s(thread))
        num = field(1, s("bytes")) + field(3, 4096) + field(4, s("bytes"))
        out += field(2, packed(1, locs) + packed(2, values) + field(3, label) + field(3, num))
    for i, name in enumerate(["main", "work", "alloc"], start=1):
        out += field(4, field(1, i) + field(4, field(1, i) + field(2, 10 * i)))
        out += field(5, field(1, i) + field(2, s(f"main.{name}")) + field(4, s("main.go")))
    out += field(11, field(1, s(period_type)) + field(2, s("nanoseconds")))
    out += field(12, 10_000_000)
    if pad:
        s("p" * pad)  # an unused string: only moves the split point of the -prev seed
    for text in strings:
        out += field(6, text)
    return bytes(out)


def pair(period_type, sample_types, pad=0):
    n = len(sample_types)
    cur = profile(period_type, sample_types, [
        ([3, 2, 1], [10 + i for i in range(n)], "main"),
        ([2, 1], [5] * n, "main"),
        ([3, 1], [7] * n, "gc"),
    ], pad)
    # Smaller for the stack both hold under `main`, larger for one (dropped as negative), and
    # a stack and a label value the profile does not have.
    prev = profile(period_type, sample_types, [
        ([3, 2, 1], [4] * n, "main"),
        ([2, 1], [9] * n, "main"),
        ([1], [3] * n, "main"),
        ([3, 1], [2] * n, "idle"),
    ])
    return cur, prev


def split_seed(period_type, sample_types):
    """[cut byte] + profile + prev_profile, where pprof.rs's cut falls exactly between them."""
    for pad in range(0, 512):
        cur, prev = pair(period_type, sample_types, pad)
        total = 1 + len(cur) + len(prev)
        for b in range(256):
            if min(b * total // 256, total - 1) == len(cur):
                return bytes([b]) + cur + prev
    raise SystemExit(f"no cut byte for period type {period_type!r}")


def multipart(parts):
    body = bytes([cross_seed.SELECTOR["pprof"]])
    return body + b"".join(cross_seed.part(name, data) for name, data in parts) + b"--B--\r\n"


CONFIG = json.dumps({
    "contentions": {"units": "lock_samples", "display-name": "mutex_count", "cumulative": True},
    "delay": {"units": "lock_nanoseconds", "display-name": "block_delay", "cumulative": True,
              "aggregation": "sum"},
    "zzz": {"display-name": "inuse_zzz", "aggregation": "average", "sampled": True},
    "samples": {"display-name": "  ", "cumulative": True},
    "alloc_objects": {"cumulative": False, "aggregation": "nonsense"},
}).encode()


def slug(period_type):
    return "".join(c if c.isalnum() else "_" for c in period_type) or "empty"


def main():
    written = 0
    for pt in PERIOD_TYPES:
        types = SAMPLE_TYPES if pt in ("other", "") else NEUTRAL
        cur, prev = pair(pt, types)
        seeds = {
            os.path.join("pprof", f"kinds-{slug(pt)}"): cur,
            os.path.join("pprof", f"kinds-{slug(pt)}-prev"): split_seed(pt, types),
            os.path.join("multipart", f"kinds-{slug(pt)}"): multipart(
                [("profile", cur), ("prev_profile", prev), ("sample_type_config", CONFIG)]),
        }
        for rel, data in seeds.items():
            if len(data) > 8192:
                raise SystemExit(f"{rel} is {len(data)} bytes, over multipart's max_len 8192")
            with open(os.path.join(HERE, "seeds", rel), "wb") as f:
                f.write(data)
            written += 1
    print(f"wrote {written} seeds under {os.path.join(HERE, 'seeds')}")


if __name__ == "__main__":
    main()
