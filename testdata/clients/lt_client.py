#!/usr/bin/python3
"""Drive libtorrent (python3-libtorrent 2.0) for the end-to-end tests.

    lt_client.py info TORRENT            JSON: info hashes v1/v2, name, files
    lt_client.py magnet URI              JSON: what parse_magnet_uri reads
    lt_client.py download TORRENT DIR    downloads into DIR (web seeds only)

download exits 0 once every piece is verified, 1 when it has not finished
after LIMIT seconds (a bound, not a timing assertion).
"""

import json
import sys
import time

import libtorrent as lt

LIMIT = 120


def hashes(ih):
    return {
        "v1": str(ih.v1) if ih.has_v1() else "",
        "v2": str(ih.v2) if ih.has_v2() else "",
    }


def info(path):
    ti = lt.torrent_info(path)
    fs = ti.files()
    out = hashes(ti.info_hashes())
    out.update({
        "name": ti.name(),
        "files": [fs.file_path(i) for i in range(fs.num_files())],
        "web_seeds": [w["url"] for w in ti.web_seeds()],
    })
    return out


def magnet(uri):
    p = lt.parse_magnet_uri(uri)
    out = hashes(p.info_hashes)
    out.update({"name": p.name, "trackers": list(p.trackers), "url_seeds": list(p.url_seeds)})
    return out


def download(path, save):
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "alert_mask": lt.alert.category_t.error_notification,
    })
    h = ses.add_torrent({"ti": lt.torrent_info(path), "save_path": save})
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        s = h.status()
        if s.is_seeding or s.is_finished:
            ses.pause()
            print(json.dumps({"done": True, "progress": s.progress}))
            return 0
        for a in ses.pop_alerts():
            print(a.message(), file=sys.stderr)
        time.sleep(0.2)
    s = h.status()
    print(json.dumps({"done": False, "progress": s.progress, "state": str(s.state)}))
    return 1


def main(argv):
    if len(argv) == 3 and argv[1] == "info":
        print(json.dumps(info(argv[2])))
        return 0
    if len(argv) == 3 and argv[1] == "magnet":
        print(json.dumps(magnet(argv[2])))
        return 0
    if len(argv) == 4 and argv[1] == "download":
        return download(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
