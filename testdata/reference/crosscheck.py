#!/usr/bin/env python3
"""Cross-check the reference builder (pkgtorrent_ref.py) against other tools.

Part of an independent reference implementation written from
/work/shared/PROTOCOL.md ("Torrent layout"). The golden files themselves are
regenerated with `python3 testdata/reference/golden.py`; this script only
checks them, from the repository root:

    python3 testdata/reference/crosscheck.py

It builds the test mirror in a temporary folder, builds every case of
golden.py and checks it with:

  golden    the stored testdata/golden/expected.json agrees (not stale);
  mktorrent single-file results only: `mktorrent -l 20 FILE` gives the same
            info hash (its info dict is {length, name, piece length, pieces});
  lt-parse  libtorrent (Debian's python3-libtorrent) reads the info, reports
            the same v1 info hash and the file list; the layout rules of
            PROTOCOL.md are re-checked on libtorrent's view of the files
            (order, sizes, offsets, padding names, BEP 47 pad flags);
  lt-pieces every piece hash is recomputed from libtorrent's own mapping of
            pieces to file slices (map_block), reading the mirror, padding
            read as zeros;
  lt-create libtorrent builds the torrent from scratch (create_torrent,
            v1 only, same file list) and hashes the files itself; its
            bencoded info must equal ours byte for byte. For the pkgtorrent
            format the padding entries are ordinary files to libtorrent, so
            they are written out as zero-filled files in a second tree; for
            bep47 they are pad files and libtorrent supplies the zeros.

A missing tool is skipped with a message. libtorrent is often only importable
by the system interpreter, so when `import libtorrent` fails the script
re-runs itself once with /usr/bin/python3 if that one has it.
Exit status: 0 if every check that ran passed, 1 otherwise.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import golden  # noqa: E402
import mirror  # noqa: E402
import pkgtorrent_ref as ref  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
_REEXEC_GUARD = "PKGTORRENT_CROSSCHECK_REEXEC"


def _import_libtorrent():
    """Return the libtorrent module, re-executing under SYSTEM_PYTHON if needed, or None."""
    try:
        import libtorrent
        return libtorrent
    except ImportError:
        pass
    if (os.environ.get(_REEXEC_GUARD) is None and os.path.exists(SYSTEM_PYTHON)
            and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)):
        probe = subprocess.run([SYSTEM_PYTHON, "-c", "import libtorrent"],
                               capture_output=True)
        if probe.returncode == 0:
            print(f"libtorrent not importable by {sys.executable}; re-running with {SYSTEM_PYTHON}")
            sys.stdout.flush()
            env = dict(os.environ, **{_REEXEC_GUARD: "1"})
            os.execve(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:], env)
    return None


# ---------------------------------------------------------------- bdecoding

def raw_info(torrent_bytes):
    """Return the exact bytes of the top-level "info" value of a .torrent.

    A minimal bencode scanner, independent of pkgtorrent_ref's encoder.
    """
    def skip(pos):
        c = torrent_bytes[pos:pos + 1]
        if c == b"i":
            return torrent_bytes.index(b"e", pos) + 1
        if c in (b"l", b"d"):
            pos += 1
            while torrent_bytes[pos:pos + 1] != b"e":
                pos = skip(pos)
            return pos + 1
        colon = torrent_bytes.index(b":", pos)
        return colon + 1 + int(torrent_bytes[pos:colon])

    if torrent_bytes[:1] != b"d":
        raise ValueError("not a dictionary")
    pos = 1
    while torrent_bytes[pos:pos + 1] != b"e":
        key_end = skip(pos)
        colon = torrent_bytes.index(b":", pos)
        key = torrent_bytes[colon + 1:key_end]
        value_end = skip(key_end)
        if key == b"info":
            return torrent_bytes[key_end:value_end]
        pos = value_end
    raise ValueError("no info key")


# ---------------------------------------------------------------- checks

class Report:
    """Report collects check outcomes per case and tool."""

    def __init__(self):
        self.rows = []  # (case name, check, status, detail)

    def add(self, case, check, ok, detail=""):
        status = "ok" if ok else "FAIL"
        self.rows.append((case, check, status, detail))
        if not ok:
            print(f"FAIL {case} [{check}] {detail}")

    def skip(self, case, check, detail):
        self.rows.append((case, check, "skip", detail))

    def failures(self):
        return [r for r in self.rows if r[2] == "FAIL"]


def request_rel_paths(root, case):
    """Return the files of a case, relative to root, in torrent order (recomputed here)."""
    if case["mode"] == "digest":
        return [p.lstrip("/") for p in case["paths"]]
    # Single mode: Python glob, regular files, sorted bytewise (the brief's rule).
    import glob
    found = [os.path.relpath(p, root).replace(os.sep, "/")
             for p in glob.glob(os.path.join(root, case["pattern"])) if os.path.isfile(p)]
    return sorted(found, key=lambda s: s.encode())


def check_golden(report, case, res, expected):
    if expected is None:
        report.skip(case["name"], "golden", "no expected.json")
        return
    want = expected.get(case["name"])
    got = golden.expected_entry(res)
    report.add(case["name"], "golden", want == got, f"stored {want}, rebuilt {got}")


def check_mktorrent(report, case, res, root, tmp):
    name = case["name"]
    if shutil.which("mktorrent") is None:
        report.skip(name, "mktorrent", "mktorrent not installed")
        return
    if "files" in res.info:
        report.skip(name, "mktorrent", "multi-file: mktorrent cannot order or pad files")
        return
    path = os.path.join(root, res.url_dir, res.info["name"])
    out = os.path.join(tmp, "mktorrent.torrent")
    if os.path.exists(out):
        os.remove(out)
    proc = subprocess.run(["mktorrent", "-l", "20", "-d", "-o", out, path],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        report.add(name, "mktorrent", False, f"mktorrent failed: {proc.stderr.strip()}")
        return
    with open(out, "rb") as f:
        info = raw_info(f.read())
    got = hashlib.sha1(info).hexdigest()
    report.add(name, "mktorrent", got == res.info_hash and info == res.info_bytes,
               f"mktorrent {got}, reference {res.info_hash}")


def check_lt_parse(lt, report, case, res, root, piece_length):
    """Parse with libtorrent and re-check the layout rules on its view of the files."""
    name = case["name"]
    ti = lt.torrent_info(lt.bdecode(b"d4:info" + res.info_bytes + b"e"))
    problems = []
    got_hash = str(ti.info_hashes().v1)
    if got_hash != res.info_hash:
        problems.append(f"info hash {got_hash} != {res.info_hash}")
    fs = ti.files()
    rels = request_rel_paths(root, case)
    if ti.piece_length() != piece_length:
        problems.append(f"piece length {ti.piece_length()}")
    if fs.num_files() != res.files:
        problems.append(f"{fs.num_files()} files, expected entry says {res.files}")

    if "files" not in res.info:
        # Single-file torrent: exactly one match, named by its basename.
        if len(rels) != 1 or fs.file_path(0) != rels[0].rsplit("/", 1)[-1]:
            problems.append(f"single-file torrent for {rels}: {fs.file_path(0)}")
        if fs.file_size(0) != os.path.getsize(os.path.join(root, rels[0])):
            problems.append("size differs")
    else:
        top = rels[0].split("/")[0]
        if ti.name() != top:
            problems.append(f"name {ti.name()} != {top}")
        # Walk libtorrent's file list and expect: each requested file in
        # order, then its padding unless it is last or a piece-length multiple.
        seen_pads = {}
        i = 0
        for n, rel in enumerate(rels):
            size = os.path.getsize(os.path.join(root, rel))
            if i >= fs.num_files():
                problems.append(f"missing {rel}")
                break
            if fs.file_path(i) != rel or fs.file_size(i) != size:
                problems.append(f"entry {i}: {fs.file_path(i)} {fs.file_size(i)}, want {rel} {size}")
            if fs.file_offset(i) % piece_length != 0:
                problems.append(f"{rel} starts at {fs.file_offset(i)}, not a piece boundary")
            if fs.file_flags(i) & lt.file_storage.flag_pad_file:
                problems.append(f"{rel} flagged as pad file")
            i += 1
            if n == len(rels) - 1 or size % piece_length == 0:
                continue
            pad = piece_length - size % piece_length
            k = seen_pads.get(pad, 0)
            seen_pads[pad] = k + 1
            want = f"{top}/{ref.SERVICE_NAME}/nullfile/{pad}_{k}"
            if i >= fs.num_files() or fs.file_path(i) != want or fs.file_size(i) != pad:
                problems.append(f"entry {i}: want padding {want} of {pad}")
            else:
                flagged = bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)
                if flagged != (case["format"] == "bep47"):
                    problems.append(f"{want}: pad flag {flagged} in format {case['format']}")
            i += 1
        if i != fs.num_files():
            problems.append(f"{fs.num_files() - i} unexpected trailing entries")
    report.add(name, "lt-parse", not problems, "; ".join(problems))
    return ti


def check_lt_pieces(lt, report, case, ti, root):
    """Recompute every piece from libtorrent's piece-to-file mapping."""
    fs = ti.files()
    multi = fs.num_files() > 1 or "/" in fs.file_path(0)
    if multi:
        base = root
    else:  # single-file: the file's folder
        base = os.path.join(root, os.path.dirname(request_rel_paths(root, case)[0]))
    bad = []
    for piece in range(ti.num_pieces()):
        h = hashlib.sha1()
        for sl in ti.map_block(piece, 0, ti.piece_size(piece)):
            path = fs.file_path(sl.file_index)
            is_pad = (fs.file_flags(sl.file_index) & lt.file_storage.flag_pad_file
                      or f"/{ref.SERVICE_NAME}/nullfile/" in f"/{path}")
            if is_pad:
                h.update(bytes(sl.size))
            else:
                with open(os.path.join(base, path), "rb") as f:
                    f.seek(sl.offset)
                    data = f.read(sl.size)
                if len(data) != sl.size:
                    bad.append(f"short read in {path}")
                h.update(data)
        if h.digest() != bytes(ti.hash_for_piece(piece)):
            bad.append(f"piece {piece}")
    report.add(case["name"], "lt-pieces", not bad,
               f"{ti.num_pieces()} pieces; mismatched: {', '.join(bad)}")


def check_lt_create(lt, report, case, res, root, pad_root, piece_length):
    """Let libtorrent hash the same file list itself and compare the bencoded info."""
    fs = lt.file_storage()
    if "files" not in res.info:
        fs.add_file(res.info["name"], res.info["length"])
        base = os.path.join(root, res.url_dir)
    else:
        for entry in res.info["files"]:
            path = "/".join([res.info["name"]] + entry["path"])
            flags = lt.file_storage.flag_pad_file if entry.get("attr") == "p" else 0
            fs.add_file(path, entry["length"], flags)
            if entry["path"][0] == ref.SERVICE_NAME and not flags:
                # pkgtorrent padding: an ordinary file to libtorrent; make it exist.
                full = os.path.join(pad_root, *path.split("/"))
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "wb") as f:
                    f.write(bytes(entry["length"]))
        # bep47 uses the clean tree: libtorrent must supply pad zeros itself.
        base = pad_root if case["format"] == "pkgtorrent" else root
    ct = lt.create_torrent(fs, piece_length, lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, base)
    info = lt.bencode(ct.generate()[b"info"])
    got = hashlib.sha1(info).hexdigest()
    report.add(case["name"], "lt-create", info == res.info_bytes,
               f"libtorrent {got}, reference {res.info_hash}")


def main():
    lt = _import_libtorrent()
    piece_length = ref.PIECE_LENGTH
    report = Report()
    expected_path = os.path.join(golden.GOLDEN_DIR, "expected.json")
    expected = None
    if os.path.exists(expected_path):
        with open(expected_path, encoding="utf-8") as f:
            expected = json.load(f)
    if lt is None:
        print("libtorrent not available: skipping lt-parse, lt-pieces, lt-create")
    else:
        print(f"libtorrent {lt.__version__} ({sys.executable})")
    if shutil.which("mktorrent") is None:
        print("mktorrent not installed: skipping mktorrent checks")
    else:
        version = subprocess.run(["mktorrent", "-h"], capture_output=True, text=True).stdout
        print(version.splitlines()[0] if version else "mktorrent")

    with tempfile.TemporaryDirectory(prefix="pkgtorrent-crosscheck-") as tmp:
        root = os.path.join(tmp, "root")
        pad_root = os.path.join(tmp, "padroot")  # root plus zero-filled padding files
        mirror.make_tree(root)
        mirror.make_tree(pad_root)
        for case in golden.make_cases():
            res = golden.build_case(root, case)
            check_golden(report, case, res, expected)
            check_mktorrent(report, case, res, root, tmp)
            if lt is None:
                continue
            ti = check_lt_parse(lt, report, case, res, root, piece_length)
            check_lt_pieces(lt, report, case, ti, root)
            check_lt_create(lt, report, case, res, root, pad_root, piece_length)

    checks = sorted({r[1] for r in report.rows})
    print()
    print(f"{'case':42} " + " ".join(f"{c:9}" for c in checks))
    table = {}
    for case, check, status, _ in report.rows:
        table.setdefault(case, {})[check] = status
    for case, statuses in table.items():
        print(f"{case:42} " + " ".join(f"{statuses.get(c, '-'):9}" for c in checks))
    counts = {}
    for _, _, status, _ in report.rows:
        counts[status] = counts.get(status, 0) + 1
    print()
    print("summary: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 1 if report.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
