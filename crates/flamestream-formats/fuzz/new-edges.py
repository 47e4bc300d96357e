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
frame of the inline chain that is in flamestream's code, or else to the library it is in. An
edge whose whole inline chain matches a block the first snapshot covered is a machine copy of
code already run (an unrolled loop's iteration, a duplicated tail, another inlined copy): it
is marked `(copy)` and counted apart from source code run for the first time. An edge whose
chain differs from a covered block's only outside the innermost flamestream function (its
callers, or the generic arguments in the names) is a branch that function had already taken,
now inlined into one more caller: `jfr`'s fixed-width reads and string decoder are inlined
into dozens of callers, and a fuzzer finds their branches one caller at a time. It is marked
`(new caller)`. What is left is source code (with the library code inlined into it) that no
input had run: when a run's snapshots show none for an hour, the fuzzer has stopped finding
new code, whatever `cov:` does.

`uncovered SNAPSHOT` sorts the edges no input of the snapshot covers: blocks that only lead to
a panic (bounds, overflow and precondition checks, unwraps; read from the disassembly), copies
of covered code, and code no input reaches, which it lists by function with source lines,
most first. That last list is where seeds help (the ninth to twelfth rounds' seeds came from
such lists):

    ./new-edges.py uncovered /tmp/multipart-2.edges

`snapshot TARGET OUT DIR...` takes the inputs of the given directories instead of the corpus,
e.g. the corpus and a directory of new seeds, to see what the seeds would add before a run:

    ./new-edges.py snapshot pprof /tmp/with-seeds.edges corpus/pprof seeds/pprof

Binaries are looked for in $CARGO_TARGET_DIR (default target/fuzz, as run-all.sh builds them).
"""
import bisect
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


def is_ours(loc):
    """True for a source position in one of our crates."""
    return "/crates/flamestream-" in loc


def where(frames):
    """(kind, place) for a symbolized inline chain, innermost first."""
    for func, loc in frames:
        if is_ours(loc):
            path = loc[loc.index("/crates/") + 1:]
            return "flamestream", f"{path} {func}"
    func, loc = frames[0]
    if loc.startswith("/rustc/"):
        return "std", f"{loc.split('/library/')[-1]} {func}"
    m = re.search(r"/registry/src/[^/]+/([^/]+)/(.*)", loc)
    if m:
        return "dependency", f"{m.group(1)} {m.group(2)} {func}"
    return "other", f"{loc} {func}"


def own_inner(chain):
    """The source positions of the inline chain from the innermost frame out to the innermost
    flamestream frame: where the block is in our code, without the callers that code was inlined
    into (nor the generic arguments it was instantiated with, which only the names carry)."""
    locs = tuple(loc for _func, loc in chain)
    for k, loc in enumerate(locs):
        if is_ours(loc):
            return locs[:k + 1]
    return locs


def chains(exe, table, edges):
    """[inline chain] for the given edge indices, in their order: each chain is a tuple of
    (function, file:line:column), innermost first."""
    out = subprocess.run(["llvm-symbolizer", f"--obj={exe}", "--inlining=true", "--functions=short"],
                         input="\n".join(hex(table[i]) for i in edges), capture_output=True, text=True,
                         check=True).stdout
    return [tuple(zip(lines[0::2], lines[1::2]))
            for lines in (block.splitlines() for block in out.strip().split("\n\n"))]


def diff(a_path, b_path):
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    if a["sha256"] != b["sha256"]:
        fail("the two snapshots come from different builds of the target; edge indices differ")
    new = sorted(set(b["edges"]) - set(a["edges"]))
    lost = sorted(set(a["edges"]) - set(b["edges"]))
    print(f"{b['target']}: {len(a['edges'])} -> {len(b['edges'])} edges; {len(new)} new, {len(lost)} no longer covered")
    table = pc_table(b["binary"]) if new or lost else {}
    chain_of = dict(zip(new, chains(b["binary"], table, new))) if new else {}
    copies, callers = set(), set()
    if new:
        # A block whose inline chain (every source position, innermost to outermost) is the
        # same as that of a block covered before is a machine copy of code already run: an
        # unrolled loop iteration, a duplicated tail, another inlined copy.
        before = set(chains(b["binary"], table, a["edges"]))
        copies = {i for i in new if chain_of[i] in before}
        # A block whose chain differs only in the callers of the innermost flamestream function
        # is a branch that function already took, now inlined into another caller (a reader's
        # fixed-width path under one more field, the string decoder under one more lookup).
        before_inner = {own_inner(c) for c in before}
        callers = {i for i in new if i not in copies and own_inner(chain_of[i]) in before_inner}
        print(f"  {len(new) - len(copies) - len(callers)} of the new edges are source code not run before; "
              f"{len(callers)} are branches run before, now under another caller, marked (new caller); "
              f"{len(copies)} are copies of code run before (unrolled loops, duplicated tails, inlined "
              f"copies), marked (copy)")
    # An edge no longer covered: the fuzzer replaced an input by a smaller one with the same
    # features, or the path depends on something other than the input (a HashMap's random seed).
    lost_chains = chains(b["binary"], table, lost) if lost else []
    for title, edges, edge_chains in (("new", new, [chain_of[i] for i in new]),
                                      ("no longer covered", lost, lost_chains)):
        if not edges:
            continue
        kinds = {}
        for i, chain in zip(edges, edge_chains):
            kind, place = where(list(chain))
            mark = " (copy)" if i in copies else " (new caller)" if i in callers else ""
            kinds.setdefault(kind, []).append(place + mark)
        for kind in ("flamestream", "std", "dependency", "other"):
            places = kinds.get(kind, [])
            if places:
                print(f"  {title}, {kind}: {len(places)}")
                for place in places:
                    print(f"    {place}")


# A block that only leads to one of these is a guard that valid code never takes.
PANICS = ("core::panicking::", "std::panicking::", "core::option::unwrap_failed",
          "core::option::expect_failed", "core::result::unwrap_failed", "core::slice::index::",
          "core::str::slice_error_fail", "alloc::raw_vec::", "alloc::alloc::handle_alloc_error",
          "core::cell::panic_already", "core::char::methods::encode_utf8_raw::do_panic",
          "core::hint::unreachable_unchecked::precondition_check")


def panic_guards(exe, addrs):
    """The subset of the given block addresses whose block goes straight to a panic: a call to
    a `PANICS` function (directly, through the GOT, or after unconditional jumps) before any
    other call, conditional jump or return, or a `ud2`."""
    asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", exe], capture_output=True,
                         text=True, check=True).stdout
    insns = {}  # address -> (mnemonic, operands), in address order
    order = []
    for line in asm.splitlines():
        m = re.match(r"\s+([0-9a-f]+):\t(\S+)\s*(.*)$", line)
        if m:
            a = int(m.group(1), 16)
            insns[a] = (m.group(2), m.group(3))
            order.append(a)
    nxt = {a: b for a, b in zip(order, order[1:])}
    # GOT slots -> the function they hold (PIE: R_X86_64_RELATIVE entries, addend = address).
    syms = []
    for line in subprocess.run(["nm", "-nC", exe], capture_output=True, text=True, check=True).stdout.splitlines():
        m = re.match(r"([0-9a-f]+) [tTwW] (.*)$", line)
        if m:
            syms.append((int(m.group(1), 16), m.group(2)))
    sym_addrs = [a for a, _ in syms]

    def symbol_at(a):
        i = bisect.bisect_right(sym_addrs, a) - 1
        return syms[i][1] if i >= 0 and syms[i][0] == a else ""
    got = {}
    for line in subprocess.run(["readelf", "-rW", exe], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if len(p) >= 4 and p[2] == "R_X86_64_RELATIVE":
            got[int(p[0], 16)] = symbol_at(int(p[3], 16))

    def callee(operands):
        m = re.search(r"# ([0-9a-f]+) <", operands)
        if operands.startswith("*") and m:
            return got.get(int(m.group(1), 16), "")
        m = re.search(r"<(.*)>", operands)
        return m.group(1) if m else ""

    guards = set()
    for start in addrs:
        a, hops = start, 0
        for _ in range(64):
            if a not in insns:
                break
            op, args = insns[a]
            if op == "ud2":
                guards.add(start)
                break
            if op.startswith("call"):
                name = callee(args)
                if name.startswith("__sanitizer_cov"):
                    a = nxt.get(a)
                    continue
                if any(name.startswith(pfx) for pfx in PANICS):
                    guards.add(start)
                break
            if op == "jmp" and hops < 3:
                m = re.match(r"([0-9a-f]+) <", args)
                if not m:
                    break
                a, hops = int(m.group(1), 16), hops + 1
                continue
            if op.startswith("j") or op.startswith("ret"):
                break
            a = nxt.get(a)
    return guards


def uncovered(path):
    s = json.load(open(path))
    if sha256(s["binary"]) != s["sha256"]:
        fail(f"{s['binary']} was rebuilt after this snapshot; take a new snapshot")
    table = pc_table(s["binary"])
    covered = set(s["edges"])
    indices = sorted(table)
    chain_of = dict(zip(indices, chains(s["binary"], table, indices)))
    where_is = {i: where(list(c)) for i, c in chain_of.items()}
    missing = [i for i in indices if i not in covered]
    guards = panic_guards(s["binary"], {table[i] for i in missing})
    # Inlined and unrolled code has a block per copy: one whose inline chain some covered
    # block shares is not new code.
    covered_chains = {chain_of[i] for i in covered if i in chain_of}
    elsewhere = [i for i in missing if table[i] not in guards and chain_of[i] in covered_chains]
    rest = [i for i in missing if table[i] not in guards and chain_of[i] not in covered_chains]
    counts = {}
    for i in rest:
        counts[where_is[i][0]] = counts.get(where_is[i][0], 0) + 1
    print(f"{s['target']}: {len(table)} edges, {len(covered)} covered, {len(missing)} not:")
    print(f"  {len(missing) - len(rest) - len(elsewhere)} only lead to a panic (bounds, overflow and "
          f"precondition checks, unwraps)")
    print(f"  {len(elsewhere)} are copies of code another copy covers (inlined, unrolled, duplicated)")
    print(f"  {len(rest)} are code no input reaches: "
          + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("flamestream", "std", "dependency", "other")))
    groups = {}
    for i in rest:
        kind, place = where_is[i]
        if kind != "flamestream":
            continue
        loc, func = place.split(" ", 1)
        file, line, _col = loc.rsplit(":", 2)
        groups.setdefault((file, func), []).append(int(line))
    for (file, func), lines in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        shown = ",".join(str(n) for n in sorted(set(lines)) if n)
        print(f"  {len(lines):4d} {file} {func}" + (f" (lines {shown})" if shown else ""))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "snapshot":
        snapshot(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) == 4 and sys.argv[1] == "diff":
        diff(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "uncovered":
        uncovered(sys.argv[2])
    else:
        fail("usage: new-edges.py snapshot TARGET OUT [DIR...] | diff A B | uncovered SNAPSHOT  (see the top of this file)")


if __name__ == "__main__":
    main()
