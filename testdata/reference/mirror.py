#!/usr/bin/env python3
"""Deterministic test mirror tree for the pkgtorrent golden tests.

Part of an independent reference implementation written from
/work/shared/PROTOCOL.md ("Torrent layout") and the test brief, in Python 3
with the standard library only. The Go tests generate the identical tree with
the identical rule, so nothing here may change without changing them too.

Content rule: the file with relative path P (forward slashes, no leading
slash) and size N holds the concatenation of
sha256((P + ":" + str(i)).encode()).digest() for i = 0, 1, 2, ...,
truncated to N bytes. Every file's mtime (and atime) is set to MTIME.

Usage:
    python3 mirror.py ROOT      # creates the tree under ROOT
"""

import hashlib
import os
import sys

# MTIME is the modification time, in seconds, of every generated file.
MTIME = 1700000000

# FILES maps each relative path to its size in bytes, in the order of the brief.
FILES = {
    "yum/el9/x86_64/Packages/empty-0-1.noarch.rpm": 0,
    "yum/el9/x86_64/Packages/one-1.0-1.noarch.rpm": 1,
    "yum/el9/x86_64/Packages/piece-1.0-1.x86_64.rpm": 1048576,
    "yum/el9/x86_64/Packages/pieceplus-1.0-1.x86_64.rpm": 1048577,
    "yum/el9/x86_64/Packages/several-2.5-1.x86_64.rpm": 2621563,
    "yum/el9/x86_64/Packages/exact-3-1.x86_64.rpm": 3145728,
    "yum/el9/x86_64/Packages/libstdc++-devel-11.4.1-2.el9.x86_64.rpm": 700000,
    "yum/el9/x86_64/Packages/tilde-1.0~rc1-1.noarch.rpm": 5000,
    "yum/iso/boot.iso": 2097229,
    "other/readme.txt": 100,
}


def content(rel_path, size):
    """Return the bytes of the file at rel_path with the given size."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{rel_path}:{i}".encode()).digest()
        i += 1
    return bytes(out[:size])


def make_tree(root):
    """Create every file of FILES under root (parents included), with mtime MTIME."""
    for rel_path, size in FILES.items():
        full = os.path.join(root, *rel_path.split("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(content(rel_path, size))
        os.utime(full, (MTIME, MTIME))


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} ROOT", file=sys.stderr)
        return 2
    make_tree(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
