#!/usr/bin/env python3
"""Writes pprof seeds that cross each limit the fuzz targets run with (`fuzz_targets/common.rs`:
`max_samples` 4 000, `max_stack_depth` 200, `max_symbol_bytes` 256, and the default label
limits: 30 labels, names of 1 024 bytes, values of 2 048), for the `pprof` target.

A limit is a branch a fuzzer rarely crosses on its own: 4 001 samples, a 2 049-byte label
value or 31 distinct label names in one sample take thousands of mutations in the right
places. After eleven rounds `new-edges.py uncovered` still listed the `max_samples` error
(`too_many_samples`), the label limits of `accumulate_samples` and their error messages as
code no input reached. These seeds reach each one:

- `seeds/pprof/limit-samples`: 4 001 samples in a row (refused while the samples are read);
- `seeds/pprof/limit-samples-long-keys`: 4 001 samples whose field key is written in two bytes
  (valid protobuf no encoder writes), which the decoder reads in its general loop rather
  than its loop over runs of samples;
- `seeds/pprof/limit-labels`: a sample with 31 labels, one with a 2 049-byte value, one with a
  1 025-byte name, and a sample within every limit, whose stack is 210 locations deep over
  a function with a 300-byte name (the stack is truncated and the name cut, not refused).

    crates/flamestream-formats/fuzz/limit-seeds.py     # rewrites the limit-* seeds

Only the standard library; the protobuf helpers are kind-seeds.py's.
"""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("kind_seeds", os.path.join(HERE, "kind-seeds.py"))
kinds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kinds)
field, packed = kinds.field, kinds.packed

MAX_SAMPLES, MAX_DEPTH, MAX_SYMBOL = 4_000, 200, 256
MAX_LABELS, MAX_NAME, MAX_VALUE = 30, 1_024, 2_048
MAX_LEN = 32_768  # the pprof target's, run-all.sh


def strings(table):
    return b"".join(field(6, t) for t in table)


def header(table):
    """One sample type, `cpu`/`nanoseconds`, and its period."""
    return (field(1, field(1, table.index("cpu")) + field(2, table.index("nanoseconds")))
            + field(11, field(1, table.index("cpu")) + field(2, table.index("nanoseconds")))
            + field(12, 10_000_000))


def limit_samples(long_keys):
    table = ["", "cpu", "nanoseconds"]
    # An empty sample: counted before it is read. Field 2, length-delimited: key 0x12, or
    # 0x92 0x00 in two bytes.
    sample = b"\x92\x00\x00" if long_keys else field(2, b"")
    body = sample * (MAX_SAMPLES + 1)
    return header(table) + body + strings(table)


def limit_labels():
    long_name, long_value = "n" * (MAX_NAME + 1), "v" * (MAX_VALUE + 1)
    table = ["", "cpu", "nanoseconds", "main.go", "f" * (MAX_SYMBOL + 44), "main.leaf", "k", "v",
             long_name, long_value] + [f"key{i}" for i in range(MAX_LABELS + 1)]
    s = table.index

    def label(key, value):
        return field(3, field(1, s(key)) + field(2, s(value)))
    out = header(table)
    out += field(2, packed(1, [2]) + packed(2, [1])
                 + b"".join(label(f"key{i}", "v") for i in range(MAX_LABELS + 1)))
    out += field(2, packed(1, [2]) + packed(2, [2]) + label("k", long_value))
    out += field(2, packed(1, [2]) + packed(2, [3]) + label(long_name, "v"))
    out += field(2, packed(1, [1] * (MAX_DEPTH + 9) + [2]) + packed(2, [4]) + label("k", "v"))
    out += field(4, field(1, 1) + field(4, field(1, 1) + field(2, 7)))
    out += field(4, field(1, 2) + field(4, field(1, 2) + field(2, 9)))
    out += field(5, field(1, 1) + field(2, s("f" * (MAX_SYMBOL + 44))) + field(4, s("main.go")))
    out += field(5, field(1, 2) + field(2, s("main.leaf")) + field(4, s("main.go")))
    return out + strings(table)


def main():
    seeds = {"limit-samples": limit_samples(False), "limit-samples-long-keys": limit_samples(True),
             "limit-labels": limit_labels()}
    for name, data in seeds.items():
        if len(data) > MAX_LEN:
            raise SystemExit(f"{name} is {len(data)} bytes, over the pprof target's max_len {MAX_LEN}")
        with open(os.path.join(HERE, "seeds", "pprof", name), "wb") as f:
            f.write(data)
        print(f"pprof/{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
