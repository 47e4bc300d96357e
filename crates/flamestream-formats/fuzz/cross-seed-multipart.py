#!/usr/bin/env python3
"""Seeds the `multipart` fuzz target with the other targets' corpora, each input wrapped as a
part of a multipart body the way `fuzz_targets/multipart.rs` reads it (first byte: the format,
then a body with boundary `B`).

The `multipart` target reaches every decoder through a multipart upload, so on its own it has
to rediscover, through the multipart framing, what the `pprof`, `jfr`, `trie`… targets already
found. Wrapping their corpora gives it that coverage at the start; its own run then only has
to find what is specific to multipart uploads.

    crates/flamestream-formats/fuzz/cross-seed-multipart.py    # writes into corpus/multipart

Inputs whose wrapped body would exceed the target's max_len (8192, see run-all.sh) are
skipped. Files are named by the SHA-1 of their content, as libFuzzer names them, so running
this twice adds nothing.
"""
import os
import sys

from corpus_files import CorpusWriter, read_inputs

HERE = os.path.dirname(os.path.abspath(__file__))
FORMATS = os.path.join(HERE, "corpus")
JFR = os.path.join(HERE, "..", "..", "flamestream-jfr", "fuzz", "corpus")
OUT = os.path.join(FORMATS, "multipart")
MAX_LEN = 8192

# Format::ALL order in crates/flamestream-formats/src/lib.rs: the target picks
# ALL[first byte % 7].
SELECTOR = {"pprof": 0, "jfr": 1, "folded": 2, "lines": 3, "trie": 4, "tree": 5, "speedscope": 6}

# (corpus directory, target name, part name the decoder reads)
SOURCES = [
    (os.path.join(FORMATS, "pprof"), "pprof", "profile"),
    (os.path.join(JFR, "jfr"), "jfr", "jfr"),
    (os.path.join(FORMATS, "folded"), "folded", "profile"),
    (os.path.join(FORMATS, "lines"), "lines", "profile"),
    (os.path.join(FORMATS, "trie"), "trie", "profile"),
    (os.path.join(FORMATS, "tree"), "tree", "profile"),
    (os.path.join(FORMATS, "speedscope"), "speedscope", "profile"),
]


def part(name: str, body: bytes) -> bytes:
    return (
        b"--B\r\nContent-Disposition: form-data; name=\"" + name.encode()
        + b"\"; filename=\"" + name.encode()
        + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + body + b"\r\n"
    )


def main() -> int:
    corpus = CorpusWriter(OUT, MAX_LEN)
    for directory, target, name in SOURCES:
        if not os.path.isdir(directory):
            print(f"cross-seed: no corpus at {directory} (run its fuzz target first); skipped",
                  file=sys.stderr)
            continue
        # The target's seeds too: libFuzzer does not copy them into the corpus directory.
        seeds = os.path.join(os.path.dirname(os.path.dirname(directory)), "seeds", target)
        for body in read_inputs([directory, seeds]):
            corpus.add(bytes([SELECTOR[target]]) + part(name, body) + b"--B--\r\n")
    print(f"cross-seed: {corpus.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
