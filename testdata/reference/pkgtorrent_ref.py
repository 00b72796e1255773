#!/usr/bin/env python3
"""Reference builder of the pkgtorrent torrent `info` dictionary.

This is an independent reference implementation, written in Python 3 with the
standard library only, from /work/shared/PROTOCOL.md section "Torrent layout"
and the rules of the golden-test brief. It shares no code with the Go service;
it exists to produce golden info hashes (see golden.py, which regenerates
testdata/golden/expected.json: run `python3 testdata/reference/golden.py`
from the repository root).

Two layouts:

* single-file: {length, name: basename, piece length, pieces}; used when a
  "single" request (a glob relative to the document root) matches exactly
  one regular file.
* multi-file: name = the first path component shared by all files; files in
  request order, each file followed, unless it is the last one or its length
  is a multiple of the piece length (0 included), by a padding entry
  {length: pad, path: [service_name, "nullfile", "{pad}_{k}"]}, k counting the
  earlier padding entries of the same pad in this torrent, from 0. Used for
  "digest" requests (always) and for "single" requests matching 2+ files.

Formats: "pkgtorrent" (as above) and "bep47" (identical, except every padding
entry also carries attr = "p").

pieces = SHA-1 of each piece of the concatenation of all entries (padding
entries being zero bytes), the last piece bare. Pieces are computed by really
reading the files and appending real zero bytes, on purpose: no per-file hash
reuse, so that this stays independent of the service's piece cache logic.

Command line (prints the info hash, optionally writes the bencoded info):
    python3 pkgtorrent_ref.py ROOT single PATTERN [--format F] [--out FILE]
    python3 pkgtorrent_ref.py ROOT digest /PATH1 /PATH2 ... [--format F]
"""

import argparse
import glob
import hashlib
import os
import stat
import sys
from dataclasses import dataclass

# PIECE_LENGTH is the default piece length: 1 MiB.
PIECE_LENGTH = 1048576
# SERVICE_NAME is the default service name, the folder of padding entries.
SERVICE_NAME = "torrent_service"
# FORMATS are the supported layouts; they differ only in padding entries' attr.
FORMATS = ("pkgtorrent", "bep47")

_READ_SIZE = 1 << 16


# ---------------------------------------------------------------- bencoding

def bencode(value):
    """Return the bencoding of value (int, str, bytes, list, dict).

    str is encoded as UTF-8. Dict keys (str or bytes) are sorted bytewise on
    their encoded form, as bencoding requires; duplicate keys are an error.
    """
    out = bytearray()
    _bencode_into(value, out)
    return bytes(out)


def _bencode_into(value, out):
    if isinstance(value, bool):  # bool is an int subclass; refuse it
        raise TypeError("cannot bencode bool")
    if isinstance(value, int):
        out += b"i%de" % value
    elif isinstance(value, (bytes, bytearray)):
        out += b"%d:" % len(value)
        out += value
    elif isinstance(value, str):
        _bencode_into(value.encode("utf-8"), out)
    elif isinstance(value, list):
        out += b"l"
        for item in value:
            _bencode_into(item, out)
        out += b"e"
    elif isinstance(value, dict):
        items = []
        for key, item in value.items():
            key_bytes = key.encode("utf-8") if isinstance(key, str) else bytes(key)
            items.append((key_bytes, item))
        items.sort(key=lambda pair: pair[0])
        for (a, _), (b, _) in zip(items, items[1:]):
            if a == b:
                raise ValueError(f"duplicate dict key {a!r}")
        out += b"d"
        for key_bytes, item in items:
            _bencode_into(key_bytes, out)
            _bencode_into(item, out)
        out += b"e"
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


# ---------------------------------------------------------------- hashing

def _file_chunks(path, expected_size):
    """Yield the content of the file at path, checking it has expected_size bytes."""
    total = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_READ_SIZE)
            if not chunk:
                break
            total += len(chunk)
            yield chunk
    if total != expected_size:
        raise RuntimeError(f"{path}: read {total} bytes, expected {expected_size}")


def _zero_chunks(size):
    """Yield size zero bytes."""
    while size > 0:
        n = min(size, _READ_SIZE)
        yield bytes(n)
        size -= n


def piece_hashes(chunks, piece_length):
    """Return the concatenated SHA-1 digests of each piece of the byte stream.

    The last piece is hashed as it is (shorter, not padded). An empty stream
    gives no pieces.
    """
    digests = []
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= piece_length:
            digests.append(hashlib.sha1(buf[:piece_length]).digest())
            del buf[:piece_length]
    if buf:
        digests.append(hashlib.sha1(buf).digest())
    return b"".join(digests)


# ---------------------------------------------------------------- paths

def _regular_size(root, rel_path):
    """Return the size of the regular file rel_path under root, or raise."""
    full = os.path.join(root, *rel_path.split("/"))
    st = os.stat(full)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{rel_path}: not a regular file")
    return st.st_size


def _check_rel(rel_path):
    """Reject paths that are not plain relative paths below the root."""
    parts = rel_path.split("/")
    if rel_path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{rel_path!r}: not a clean relative path")
    return parts


def glob_matches(root, pattern):
    """Return the regular files matching pattern under root.

    Matches come from Python's glob on root joined with pattern; they are
    returned as forward-slash paths relative to root, sorted bytewise.
    """
    _check_rel(pattern)
    rels = []
    for full in glob.glob(os.path.join(root, pattern)):
        if not stat.S_ISREG(os.stat(full).st_mode):
            continue
        rel = os.path.relpath(full, root).replace(os.sep, "/")
        rels.append(rel)
    rels.sort(key=lambda r: r.encode("utf-8"))
    return rels


# ---------------------------------------------------------------- layouts

@dataclass
class Result:
    """Result is one built torrent info.

    info: the info dictionary as Python values; info_bytes: its bencoding;
    info_hash: SHA-1 hex of info_bytes; files: the number of entries of
    info["files"] (padding included), or 1 for a single-file torrent;
    url_dir: the folder of the file relative to the root for a single-file
    torrent, else "".
    """
    info: dict
    info_bytes: bytes
    info_hash: str
    files: int
    url_dir: str


def _result(info, files, url_dir):
    info_bytes = bencode(info)
    return Result(info, info_bytes, hashlib.sha1(info_bytes).hexdigest(), files, url_dir)


def build_single_file(root, rel_path, piece_length=PIECE_LENGTH):
    """Return the single-file torrent info of the regular file rel_path under root."""
    parts = _check_rel(rel_path)
    size = _regular_size(root, rel_path)
    full = os.path.join(root, *parts)
    info = {
        "length": size,
        "name": parts[-1],
        "piece length": piece_length,
        "pieces": piece_hashes(_file_chunks(full, size), piece_length),
    }
    return _result(info, 1, "/".join(parts[:-1]))


def build_multi_file(root, rel_paths, piece_length=PIECE_LENGTH,
                     fmt="pkgtorrent", service_name=SERVICE_NAME):
    """Return the padded multi-file torrent info of rel_paths, in that order."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    if not rel_paths:
        raise ValueError("no files")
    split = [_check_rel(p) for p in rel_paths]
    tops = {parts[0] for parts in split}
    if len(tops) != 1:
        raise ValueError(f"files under several first-level folders: {sorted(tops)}")
    if any(len(parts) < 2 for parts in split):
        raise ValueError("a file directly under the root cannot be in a multi-file torrent")

    files = []      # the info["files"] entries
    streams = []    # one chunk generator factory per entry, same order
    pad_counts = {}  # pad length -> number of padding entries so far
    for index, (rel, parts) in enumerate(zip(rel_paths, split)):
        size = _regular_size(root, rel)
        full = os.path.join(root, *parts)
        files.append({"length": size, "path": parts[1:]})
        streams.append(lambda full=full, size=size: _file_chunks(full, size))
        is_last = index == len(rel_paths) - 1
        if size % piece_length != 0 and not is_last:
            pad = piece_length - size % piece_length
            k = pad_counts.get(pad, 0)
            pad_counts[pad] = k + 1
            entry = {"length": pad, "path": [service_name, "nullfile", f"{pad}_{k}"]}
            if fmt == "bep47":
                entry["attr"] = "p"
            files.append(entry)
            streams.append(lambda pad=pad: _zero_chunks(pad))

    def all_chunks():
        for make in streams:
            yield from make()

    info = {
        "files": files,
        "name": split[0][0],
        "piece length": piece_length,
        "pieces": piece_hashes(all_chunks(), piece_length),
    }
    return _result(info, len(files), "")


def build_single(root, pattern, piece_length=PIECE_LENGTH,
                 fmt="pkgtorrent", service_name=SERVICE_NAME):
    """Return the torrent info of a "single" request for pattern.

    One match: single-file torrent (fmt and service_name do not matter);
    two or more: the multi-file layout in bytewise-sorted order.
    """
    matches = glob_matches(root, pattern)
    if not matches:
        raise FileNotFoundError(f"{pattern}: no match")
    if len(matches) == 1:
        return build_single_file(root, matches[0], piece_length)
    return build_multi_file(root, matches, piece_length, fmt, service_name)


def build_digest(root, paths, piece_length=PIECE_LENGTH,
                 fmt="pkgtorrent", service_name=SERVICE_NAME):
    """Return the torrent info of a "digest" request for paths, in the given order.

    Paths may carry the leading "/" that clients send; it is removed.
    Always the multi-file layout, even for one file.
    """
    rels = [p[1:] if p.startswith("/") else p for p in paths]
    return build_multi_file(root, rels, piece_length, fmt, service_name)


def request_digest(paths):
    """Return SHA-1 hex of paths joined by "\\n", in the given order."""
    return hashlib.sha1("\n".join(paths).encode("utf-8")).hexdigest()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root")
    parser.add_argument("mode", choices=("single", "digest"))
    parser.add_argument("targets", nargs="+", help="a pattern (single) or paths (digest)")
    parser.add_argument("--format", default="pkgtorrent", choices=FORMATS)
    parser.add_argument("--piece-length", type=int, default=PIECE_LENGTH)
    parser.add_argument("--service-name", default=SERVICE_NAME)
    parser.add_argument("--out", help="write the bencoded info here")
    args = parser.parse_args(argv[1:])
    if args.mode == "single":
        if len(args.targets) != 1:
            parser.error("single takes exactly one pattern")
        res = build_single(args.root, args.targets[0], args.piece_length,
                           args.format, args.service_name)
    else:
        res = build_digest(args.root, args.targets, args.piece_length,
                           args.format, args.service_name)
    if args.out:
        with open(args.out, "wb") as f:
            f.write(res.info_bytes)
    print(res.info_hash)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
