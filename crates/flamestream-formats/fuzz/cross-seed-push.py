#!/usr/bin/env python3
"""Seeds the `push` fuzz target with the `pprof` target's corpus, each profile wrapped in a
Connect `PushRequest` the way an SDK sends it: once as protobuf (the profile is `raw_profile`)
and once as protojson (base64 `rawProfile`), with `__name__` and `service_name` labels.

Each `raw_profile` of a push goes through the same pprof decoder as an ingest upload, so on its
own the `push` target has to rediscover, through the PushRequest framing, what the `pprof`
target already found (with its dictionary, `push` went from 3 617 to 3 868 edges in its first
15 minutes, nearly all of them pprof decoding). Wrapping the `pprof` corpus gives it that at
the start; its own run then only has to find what is specific to pushes.

    crates/flamestream-formats/fuzz/cross-seed-push.py    # writes into corpus/push

Requests longer than the target's max_len (8192, see run-all.sh) are skipped. Files are named
by the SHA-1 of their content, as libFuzzer names them, so running this twice adds nothing.
"""
import base64
import os
import sys

from corpus_files import CorpusWriter, read_inputs

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "push")
SOURCES = [os.path.join(HERE, "corpus", "pprof"), os.path.join(HERE, "seeds", "pprof")]
MAX_LEN = 8192
# `__name__` values the SDKs send; the series' kind is named after it.
NAMES = ["process_cpu", "memory", "wall", "mutex", "block", "goroutine"]


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: int, body: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(tag << 3 | 2) + varint(len(body)) + body


def proto(labels, profile: bytes) -> bytes:
    pairs = b"".join(field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in labels)
    return field(1, pairs + field(2, field(1, profile)))


def protojson(labels, profile: bytes) -> bytes:
    pairs = ",".join(f'{{"name":"{k}","value":"{v}"}}' for k, v in labels)
    raw = base64.b64encode(profile).decode()
    return f'{{"series":[{{"labels":[{pairs}],"samples":[{{"rawProfile":"{raw}"}}]}}]}}'.encode()


def main() -> int:
    has = [os.path.isdir(d) and bool(os.listdir(d)) for d in SOURCES]
    if not any(has):
        print(f"cross-seed-push: nothing to wrap: {SOURCES[0]} and {SOURCES[1]} are empty",
              file=sys.stderr)
        return 1
    if not has[0]:
        print(f"cross-seed-push: no pprof corpus at {SOURCES[0]}, wrapping the seeds only "
              "(run the pprof fuzz target first for more)", file=sys.stderr)
    corpus = CorpusWriter(OUT, MAX_LEN)
    for i, profile in enumerate(read_inputs(SOURCES)):
        labels = [("__name__", NAMES[i % len(NAMES)]), ("service_name", "svc")]
        corpus.add(proto(labels, profile))
        corpus.add(protojson(labels, profile))
    print(f"cross-seed-push: {corpus.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
