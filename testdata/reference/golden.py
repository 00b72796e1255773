#!/usr/bin/env python3
"""Regenerate the pkgtorrent golden files.

Part of an independent reference implementation written from
/work/shared/PROTOCOL.md ("Torrent layout"), standard library only.

Writes, from the CASES below:
  testdata/golden/cases.json     the requests (with their digests for digest mode)
  testdata/golden/expected.json  {case name: {info_hash, info_sha256, files, url_dir}}

Regenerate from the repository root with:
    python3 testdata/reference/golden.py

It builds the test mirror (mirror.py) in a temporary folder, builds every case
with pkgtorrent_ref.py, and writes both files. It takes a few seconds.
"""

import hashlib
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mirror  # noqa: E402
import pkgtorrent_ref as ref  # noqa: E402

GOLDEN_DIR = os.path.join(os.path.dirname(HERE), "golden")

PKG = "/yum/el9/x86_64/Packages/"
EMPTY = PKG + "empty-0-1.noarch.rpm"
ONE = PKG + "one-1.0-1.noarch.rpm"
PIECE = PKG + "piece-1.0-1.x86_64.rpm"
PIECEPLUS = PKG + "pieceplus-1.0-1.x86_64.rpm"
SEVERAL = PKG + "several-2.5-1.x86_64.rpm"
EXACT = PKG + "exact-3-1.x86_64.rpm"
LIBSTDCXX = PKG + "libstdc++-devel-11.4.1-2.el9.x86_64.rpm"
TILDE = PKG + "tilde-1.0~rc1-1.noarch.rpm"
BOOT_ISO = "/yum/iso/boot.iso"

ALL_PACKAGES = sorted([EMPTY, ONE, PIECE, PIECEPLUS, SEVERAL, EXACT, LIBSTDCXX, TILDE],
                      key=lambda p: p.encode("utf-8"))

# _SINGLE lists (base name, pattern relative to the document root).
_SINGLE = [
    ("single-boot-iso", "yum/iso/boot.iso"),
    ("single-one-byte", ONE[1:]),
    ("single-piece", PIECE[1:]),
    ("single-exact", EXACT[1:]),
    ("single-libstdcxx", LIBSTDCXX[1:]),
    ("single-tilde", TILDE[1:]),
    ("single-glob-all-rpms", "yum/el9/x86_64/Packages/*.rpm"),
    ("single-glob-p-rpms", "yum/el9/x86_64/Packages/p*.rpm"),
    ("single-glob-e-digit", "yum/el9/x86_64/Packages/*e-[0-9]*.rpm"),
    ("single-glob-one-match", "yum/*/boot.iso"),
]

# _DIGEST lists (base name, paths in request order, with their leading "/").
_DIGEST = [
    ("digest-all-packages", ALL_PACKAGES),
    ("digest-one-file", [SEVERAL]),
    ("digest-last-exact", [ONE, PIECEPLUS, EXACT]),
    ("digest-last-padded", [EXACT, PIECE, SEVERAL]),
    # Padding entries (two with the same pad, so k = 0 and 1) before a bare last tail.
    ("digest-pads-then-last-padded", [ONE, PIECEPLUS, LIBSTDCXX, SEVERAL]),
    ("digest-empty-middle", [ONE, EMPTY, SEVERAL]),
    ("digest-two-folders", [LIBSTDCXX, TILDE, BOOT_ISO]),
]


def make_cases():
    """Return the list of case objects written to cases.json."""
    cases = []
    for fmt in ref.FORMATS:
        for base, pattern in _SINGLE:
            cases.append({"name": f"{base}-{fmt}", "mode": "single",
                          "format": fmt, "pattern": pattern})
        for base, paths in _DIGEST:
            cases.append({
                "name": f"{base}-{fmt}", "mode": "digest", "format": fmt,
                "paths": list(paths),
                # SHA-1 of the paths joined by "\n" in the given (request) order.
                "digest": ref.request_digest(paths),
                # SHA-1 of the bytewise-sorted paths joined by "\n": what
                # PROTOCOL.md says the service checks the URL digest against.
                "sorted_digest": ref.request_digest(
                    sorted(paths, key=lambda p: p.encode("utf-8"))),
            })
    return cases


def build_case(root, case):
    """Return the ref.Result of one case object against the mirror at root."""
    if case["mode"] == "single":
        return ref.build_single(root, case["pattern"], fmt=case["format"])
    return ref.build_digest(root, case["paths"], fmt=case["format"])


def expected_entry(res):
    """Return the expected.json object of one ref.Result."""
    return {
        "info_hash": res.info_hash,
        "info_sha256": hashlib.sha256(res.info_bytes).hexdigest(),
        "files": res.files,
        "url_dir": res.url_dir,
    }


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def main():
    cases = make_cases()
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    expected = {}
    with tempfile.TemporaryDirectory(prefix="pkgtorrent-golden-") as root:
        mirror.make_tree(root)
        for case in cases:
            expected[case["name"]] = expected_entry(build_case(root, case))
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    _write_json(os.path.join(GOLDEN_DIR, "cases.json"), cases)
    _write_json(os.path.join(GOLDEN_DIR, "expected.json"), expected)
    for name in names:
        e = expected[name]
        print(f"{e['info_hash']}  files={e['files']:<3} {name}", file=sys.stderr)
    print(f"wrote {len(cases)} cases to {GOLDEN_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
