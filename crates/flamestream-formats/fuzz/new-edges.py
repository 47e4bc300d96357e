#!/usr/bin/env python3
"""Says in which code the edges a fuzzer found between two moments lie: flamestream's own crates,
the Rust standard library, or a third-party crate.

libFuzzer's `cov:` counts every instrumented edge of the binary, the standard library's and the
dependencies' included. A run whose `cov:` still grows may be finding new branches of our
decoders, or only new ways through `String::from_utf16_lossy` or serde_json's number parser.
This script tells them apart. Take a snapshot of a target's corpus, take another later, then
compare:

    cd crates/flamestream-formats/fuzz      # from the repository root
    ./new-edges.py snapshot multipart /tmp/multipart-1.edges
    # ... the fuzzer runs on ...
    ./new-edges.py snapshot multipart /tmp/multipart-2.edges
    ./new-edges.py diff /tmp/multipart-1.edges /tmp/multipart-2.edges

`snapshot` hard-links the corpus into a scratch directory (a running fuzzer deletes the inputs
it reduces), runs the built target over it once with `-merge=1` and a control file, and keeps
the set of covered edges (libFuzzer's PC-table indices) with the SHA-256 of the binary. It does
not disturb a fuzzer running on the same corpus; it takes about a minute for `multipart`'s
200 000 inputs. Both snapshots must come from the same build. `diff` symbolizes each edge of the
second set that the first lacks with `llvm-symbolizer` and attributes it to the innermost
frame of the inline chain that is in flamestream's code, or else to the library it is in.

`snapshot TARGET OUT DIR...` takes the inputs of the given directories instead of the corpus,
e.g. the corpus and a directory of new seeds, to see what the seeds would add before a run:

    ./new-edges.py snapshot pprof /tmp/with-seeds.edges corpus/pprof seeds/pprof

Binaries are looked for in $CARGO_TARGET_DIR (default target/fuzz, as run-all.sh builds them).
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
CRATE_OF = {"jfr": "flamestream-jfr", "jfr_labels": "flamestream-jfr"}
TRIPLE = "x86_64-unknown-linux-gnu"


def fail(msg):
    sys.exit(f"new-edges: {msg}")


def binary(target):
    tdir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target", "fuzz"))
    path = os.path.join(tdir, TRIPLE, "release", target)
    if not os.path.exists(path):
        fail(f"no fuzz binary {path}: build it first (run-all.sh {target}, or cargo fuzz build -s none {target})")
    return path


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def snapshot(target, out, dirs=None):
    exe = binary(target)
    crate = CRATE_OF.get(target, "flamestream-formats")
    corpus = os.path.join(ROOT, "crates", crate, "fuzz", "corpus", target)
    dirs = dirs or [corpus]
    for d in dirs:
        if not os.path.isdir(d):
            fail(f"no directory {d}" + (": run the target first" if d == corpus else ""))
    scratch = tempfile.mkdtemp(prefix=f"edges-{target}-", dir=os.path.dirname(exe))
    try:
        snap = os.path.join(scratch, "corpus")
        os.mkdir(snap)
        n = 0
        for src in (os.path.join(d, name) for d in dirs for name in os.listdir(d)):
            dst = os.path.join(snap, f"{n}-{os.path.basename(src)}")
            try:
                try:
                    os.link(src, dst)
                except OSError as e:
                    if isinstance(e, FileNotFoundError):
                        raise
                    shutil.copy2(src, dst)  # target dir on another file system than the corpus
                n += 1
            except FileNotFoundError:
                pass  # reduced away by a running fuzzer meanwhile
        os.mkdir(os.path.join(scratch, "out"))
        control = os.path.join(scratch, "control")
        run = subprocess.run(
            [exe, "-merge=1", f"-merge_control_file={control}", "-timeout=10", "-rss_limit_mb=2048",
             os.path.join(scratch, "out"), snap],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            fail(f"merge run failed ({run.returncode}):\n{run.stderr[-2000:]}")
        edges = set()
        with open(control) as f:
            for line in f:
                if line.startswith("COV "):
                    edges.update(int(x) for x in line.split()[2:])
        with open(out, "w") as f:
            json.dump({"target": target, "binary": exe, "sha256": sha256(exe), "inputs": n,
                       "edges": sorted(edges)}, f)
        print(f"{target}: {n} inputs, {len(edges)} edges -> {out}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def pc_table(exe):
    """PC-table index -> address, read from the R_X86_64_RELATIVE relocations of __sancov_pcs
    (the binary is position-independent, so the table's entries are relocations)."""
    sections = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout
    m = re.search(r"__sancov_pcs\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
    if not m:
        fail(f"{exe} has no __sancov_pcs section")
    start, size = int(m.group(1), 16), int(m.group(2), 16)
    table = {}
    relocs = subprocess.run(["readelf", "-rW", exe], capture_output=True, text=True, check=True).stdout
    for line in relocs.splitlines():
        p = line.split()
        if len(p) >= 4 and p[2] == "R_X86_64_RELATIVE":
            off = int(p[0], 16)
            if start <= off < start + size and (off - start) % 16 == 0:
                table[(off - start) // 16] = int(p[3], 16)
    return table


def where(frames):
    """(kind, place) for a symbolized inline chain, innermost first."""
    for func, loc in frames:
        if "/crates/flamestream-" in loc:
            path = loc[loc.index("/crates/") + 1:]
            return "flamestream", f"{path} {func}"
    func, loc = frames[0]
    if loc.startswith("/rustc/"):
        return "std", f"{loc.split('/library/')[-1]} {func}"
    m = re.search(r"/registry/src/[^/]+/([^/]+)/(.*)", loc)
    if m:
        return "dependency", f"{m.group(1)} {m.group(2)} {func}"
    return "other", f"{loc} {func}"


def symbolized(exe, table, edges):
    """{kind: [place]} for the given edge indices."""
    out = subprocess.run(["llvm-symbolizer", f"--obj={exe}", "--inlining=true", "--functions=short"],
                         input="\n".join(hex(table[i]) for i in edges), capture_output=True, text=True,
                         check=True).stdout
    kinds = {}
    for block in out.strip().split("\n\n"):
        lines = block.splitlines()
        kind, place = where(list(zip(lines[0::2], lines[1::2])))
        kinds.setdefault(kind, []).append(place)
    return kinds


def diff(a_path, b_path):
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    if a["sha256"] != b["sha256"]:
        fail("the two snapshots come from different builds of the target; edge indices differ")
    new = sorted(set(b["edges"]) - set(a["edges"]))
    lost = sorted(set(a["edges"]) - set(b["edges"]))
    print(f"{b['target']}: {len(a['edges'])} -> {len(b['edges'])} edges; {len(new)} new, {len(lost)} no longer covered")
    table = pc_table(b["binary"]) if new or lost else {}
    # An edge no longer covered: the fuzzer replaced an input by a smaller one with the same
    # features, or the path depends on something other than the input (a HashMap's random seed).
    for title, edges in (("new", new), ("no longer covered", lost)):
        if not edges:
            continue
        kinds = symbolized(b["binary"], table, edges)
        for kind in ("flamestream", "std", "dependency", "other"):
            places = kinds.get(kind, [])
            if places:
                print(f"  {title}, {kind}: {len(places)}")
                for place in places:
                    print(f"    {place}")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "snapshot":
        snapshot(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) == 4 and sys.argv[1] == "diff":
        diff(sys.argv[2], sys.argv[3])
    else:
        fail("usage: new-edges.py snapshot TARGET OUT [DIR...] | new-edges.py diff A B  (see the top of this file)")


if __name__ == "__main__":
    main()
