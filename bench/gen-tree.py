#!/usr/bin/env python3
"""Generates a deterministic app-like tree for the slug packing benchmark and tests.

usage: gen-tree.py DEST [--mb N] [--seed S]

A seeded generator (random.Random, no host files): about N MB (default 100) in roughly 45 files
per MB (>= 4,000 files at 100 MB), a mix that resembles a built app:
  - text (~58% of bytes): JS/Ruby/Python-like source, JSON, Markdown, CSS, logs, built from a
    fixed vocabulary with repetition, the way real source repeats identifiers;
  - already-compressed (~12%): .png/.jpg/.gz/.woff2 bodies of high-entropy bytes;
  - binary (~30%): .so/.node/.jar-like files with headers, zero runs, repeated tables, string
    tables and code-like sections of mixed entropy;
plus nested directories, a few symlinks and executable scripts. The same arguments give the
same bytes (and mtimes) on every run.
"""
import argparse
import os
import random

WORDS = (
    "function return const let var if else for while import export default class extends new this "
    "async await try catch throw null undefined true false require module exports object string "
    "number array map filter reduce push length value key data result error config options request "
    "response handler router server client user account session token cache render view model "
    "controller service index props state component update delete create find save load parse "
    "format time date id name type status message body header path url query params def end self "
    "nil puts attr_accessor include private public static void int main package struct interface"
).split()
PUNCT = [" ", " ", " ", ".", "(", ")", "{", "}", ";", ", ", " = ", " => ", "\n", "\n", "\n    ", "_", ":"]


def text_blob(rng, size, words):
    # Each file uses a small vocabulary and repeats recent lines, as source code does.
    vocab = rng.sample(words, min(len(words), 24))
    out = []
    total = 0
    while total < size:
        if len(out) > 4 and rng.random() < 0.35:
            line = out[-rng.randint(1, min(len(out), 20))]
        else:
            line_words = rng.randint(2, 10)
            line = "    " * rng.randint(0, 3) + "".join(
                rng.choice(vocab) + rng.choice(PUNCT) for _ in range(line_words)) + "\n"
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def json_blob(rng, size, words):
    out = ["{\n"]
    total = 2
    while total < size:
        line = '  "%s_%s": {"%s": %d, "%s": "%s", "enabled": %s},\n' % (
            rng.choice(words), rng.choice(words), rng.choice(words), rng.randint(0, 99999),
            rng.choice(words), rng.choice(words) + "-" + rng.choice(words), rng.choice(["true", "false"]))
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def log_blob(rng, size, words):
    out = []
    total = 0
    t = 1700000000
    while total < size:
        t += rng.randint(0, 5)
        line = "%d [%s] %s %s %s id=%08x %dms\n" % (
            t, rng.choice(["INFO", "INFO", "WARN", "DEBUG"]), rng.choice(words), rng.choice(words),
            rng.choice(words), rng.getrandbits(32), rng.randint(1, 900))
        out.append(line)
        total += len(line)
    return "".join(out).encode()[:size]


def compressed_blob(rng, size, magic):
    return (magic + rng.randbytes(max(0, size - len(magic))))[:size]


def binary_blob(rng, size):
    parts = [b"\x7fELF\x02\x01\x01" + bytes(9)]
    total = 16
    table = rng.randbytes(64)
    while total < size:
        kind = rng.random()
        n = rng.randint(256, 16384)
        if kind < 0.2:
            chunk = bytes(n)  # zero padding / bss
        elif kind < 0.45:
            chunk = (table * (n // 64 + 1))[:n]  # repeated records
            table = bytes((b + 1) & 0xFF for b in table) if rng.random() < 0.3 else table
        elif kind < 0.65:
            chunk = b"\0".join(("_Z%d%s%s" % (rng.randint(1, 30), rng.choice(WORDS), rng.choice(WORDS))).encode()
                               for _ in range(n // 16))
        elif kind < 0.85:
            # code-like: a small alphabet of opcodes with random operands
            ops = [rng.randbytes(2) for _ in range(24)]
            operands = [rng.randbytes(4) for _ in range(64)]
            chunk = b"".join(rng.choice(ops) + rng.choice(operands)[:rng.choice([0, 1, 2, 4])] for _ in range(n // 4))
        else:
            chunk = rng.randbytes(n)
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)[:size]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dest")
    parser.add_argument("--mb", type=float, default=100)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    budget = int(args.mb * 1_000_000)
    text_budget, comp_budget, bin_budget = int(budget * 0.58), int(budget * 0.12), int(budget * 0.30)
    mtime = 1_700_000_000
    os.makedirs(args.dest, exist_ok=True)
    count = [0]

    def write(rel, data, mode=0o644):
        path = os.path.join(args.dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        os.utime(path, (mtime + count[0], mtime + count[0]))
        count[0] += 1

    # Text: many small files in a node_modules/vendor-like hierarchy.
    packages = ["pkg%03d-%s" % (i, rng.choice(WORDS)) for i in range(max(4, int(args.mb * 1.6)))]
    used = 0
    i = 0
    while used < text_budget:
        pkg = rng.choice(packages)
        sub = rng.choice(["lib", "lib/util", "src", "dist", "docs", "test", ""])
        kind = rng.random()
        size = int(min(rng.expovariate(1 / 9000) + 200, 200_000))
        if kind < 0.55:
            name, data = "%s_%d.js" % (rng.choice(WORDS), i), text_blob(rng, size, WORDS)
        elif kind < 0.7:
            name, data = "%s_%d.json" % (rng.choice(WORDS), i), json_blob(rng, size, WORDS)
        elif kind < 0.8:
            name, data = "%s_%d.md" % (rng.choice(WORDS), i), text_blob(rng, size, WORDS[:40])
        elif kind < 0.9:
            name, data = "%s_%d.css" % (rng.choice(WORDS), i), text_blob(rng, size, WORDS[20:60])
        else:
            name, data = "%s_%d.log" % (rng.choice(WORDS), i), log_blob(rng, size, WORDS)
        write(os.path.join("node_modules", pkg, sub, name), data)
        used += len(data)
        i += 1
    # Already-compressed assets.
    magics = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff\xe0", ".gz": b"\x1f\x8b\x08\x00", ".woff2": b"wOF2"}
    used = 0
    while used < comp_budget:
        ext = rng.choice(sorted(magics))
        size = int(min(rng.expovariate(1 / 60000) + 500, 2_000_000))
        write("public/assets/%s/%s-%08x%s" % (rng.choice(["img", "fonts", "media"]), rng.choice(WORDS),
                                              rng.getrandbits(32), ext), compressed_blob(rng, size, magics[ext]))
        used += size
        i += 1
    # Binaries.
    used = 0
    while used < bin_budget:
        size = int(min(rng.expovariate(1 / 700000) + 4096, 8_000_000))
        ext = rng.choice([".so", ".node", ".jar", ""])
        mode = 0o755 if ext in ("", ".so", ".node") else 0o644
        write("vendor/bin/%s-%d%s" % (rng.choice(WORDS), i, ext), binary_blob(rng, size), mode)
        used += size
        i += 1
    # App files, scripts and symlinks.
    write("Procfile", b"web: bin/start\nworker: bin/worker\n")
    write("bin/start", b"#!/bin/sh\nexec node server.js\n", 0o755)
    write("bin/worker", b"#!/bin/sh\nexec node worker.js\n", 0o755)
    write("server.js", text_blob(rng, 5000, WORDS))
    os.symlink("bin/start", os.path.join(args.dest, "start"))
    os.symlink("../../server.js", os.path.join(args.dest, "node_modules", packages[0], "server-link.js"))
    # Directory mtimes last (creating entries changed them), deepest first.
    for root, dirs, _ in sorted(os.walk(args.dest), key=lambda w: -w[0].count(os.sep)):
        os.utime(root, (mtime, mtime))
    print("%s: %d files" % (args.dest, count[0]))


if __name__ == "__main__":
    main()
