#!/usr/bin/python3
"""Regenerate the golden values of the hybrid (BitTorrent v1+v2) format.

The independent reference for hybrid torrents is libtorrent itself
(Debian's python3-libtorrent 2.0, importable by /usr/bin/python3): for every
case it builds the same file list with lt.create_torrent (v1+v2 hybrid is
its default), piece length 1 MiB, and lets libtorrent read and hash the
files of the sample mirror (mirror.py). Run from the repository root:

    /usr/bin/python3 testdata/reference/hybrid.py

It writes testdata/golden/hybrid.json: a list of cases, each with the
request (mode, pattern or paths, digest) and what libtorrent made of it:

  info_hash            SHA-1 of the bencoded info (the v1 info hash)
  info_hash_v2         SHA-256 of the bencoded info (the v2 info hash); as
                       it covers every byte, it pins the whole info dict
  piece_layers_sha256  SHA-256 of the bencoded "piece layers" dictionary
  pieces_roots         {path relative to the root: pieces root hex}
  files                entries of the v1 "files" list (padding included),
                       1 for a single-file torrent
  url_dir              the file's folder for a single-file torrent, else ""

libtorrent's output is taken as it is, with one documented change: its
padding entries are named [".pad", "N"]; the service names them
[service, "nullfile", "{N}_{k}"] (k counting earlier entries of the same
length), as in the bep47 format, so that clients that ignore BEP 47 fetch
the zeros from the service. This script renames them that way before
hashing; everything else (order of the files, padding after the last
file, file tree, meta version, name, key order) is libtorrent's.
"""

import glob
import hashlib
import json
import os
import stat
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import golden  # noqa: E402
import mirror  # noqa: E402

import libtorrent as lt  # noqa: E402

PIECE_LENGTH = 1 << 20
SERVICE = "torrent_service"
OUT = os.path.join(os.path.dirname(HERE), "golden", "hybrid.json")

# Recursive globs (the ** of single mode) besides golden.py's cases.
_EXTRA_SINGLE = [
    ("single-recursive-yum", "yum/**"),
    ("single-recursive-rpms", "yum/**/*.rpm"),
]


def matches(root, pattern):
    """Regular files matching pattern (Python's recursive glob), sorted bytewise."""
    out = []
    for full in glob.glob(os.path.join(root, pattern), recursive=True):
        if stat.S_ISREG(os.stat(full).st_mode):
            out.append(os.path.relpath(full, root).replace(os.sep, "/"))
    return sorted(out, key=lambda p: p.encode())


def build(root, rels, single):
    """Return (info bytes, piece layers bytes, pieces roots, files) from libtorrent."""
    fs = lt.file_storage()
    if single:
        fs.add_file(os.path.basename(rels[0]), os.path.getsize(os.path.join(root, rels[0])))
        base = os.path.join(root, os.path.dirname(rels[0]))
    else:
        for rel in rels:
            fs.add_file(rel, os.path.getsize(os.path.join(root, rel)))
        base = root
    ct = lt.create_torrent(fs, PIECE_LENGTH)
    lt.set_piece_hashes(ct, base)
    t = ct.generate()
    info = t[b"info"]
    used = {}
    for entry in info.get(b"files", []):
        if entry.get(b"attr") == b"p":
            n = entry[b"length"]
            k = used.get(n, 0)
            used[n] = k + 1
            entry[b"path"] = [SERVICE.encode(), b"nullfile", b"%d_%d" % (n, k)]
    roots = {}

    def walk(node, prefix):
        for name, sub in node.items():
            if name == b"":
                if b"pieces root" in sub:
                    roots[prefix] = sub[b"pieces root"].hex()
                continue
            walk(sub, f"{prefix}/{name.decode()}" if prefix else name.decode())

    top = os.path.dirname(rels[0]) if single else rels[0].split("/")[0]
    walk(info[b"file tree"], top)
    files = len(info[b"files"]) if b"files" in info else 1
    return lt.bencode(info), lt.bencode(t[b"piece layers"]), roots, files


def main():
    cases = []
    for base, pattern in golden._SINGLE + _EXTRA_SINGLE:
        cases.append({"name": base + "-hybrid", "mode": "single", "pattern": pattern})
    for base, paths in golden._DIGEST:
        cases.append({"name": base + "-hybrid", "mode": "digest", "paths": list(paths),
                      "digest": hashlib.sha1("\n".join(paths).encode()).hexdigest()})
    with tempfile.TemporaryDirectory(prefix="pkgtorrent-hybrid-") as root:
        mirror.make_tree(root)
        for c in cases:
            if c["mode"] == "single":
                rels = matches(root, c["pattern"])
                single = len(rels) == 1
            else:
                rels = [p.lstrip("/") for p in c["paths"]]
                single = False
            info, layers, roots, files = build(root, rels, single)
            c.update({
                "info_hash": hashlib.sha1(info).hexdigest(),
                "info_hash_v2": hashlib.sha256(info).hexdigest(),
                "piece_layers_sha256": hashlib.sha256(layers).hexdigest(),
                "pieces_roots": roots,
                "files": files,
                "url_dir": os.path.dirname(rels[0]) if single else "",
            })
            print(f"{c['info_hash']} {c['info_hash_v2'][:16]} files={files:<3} {c['name']}", file=sys.stderr)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=2)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
