#!/usr/bin/python3
"""A libtorrent client for the end-to-end tests of pkgtorrent-service.

Runs under Debian's /usr/bin/python3 with python3-libtorrent. It stays on
loopback: it listens on 127.0.0.1 only, without DHT, local service
discovery, UPnP or NAT-PMP, so it finds data only where the torrent says:
its web seeds (url-list) and the peers its trackers return.

  ltclient.py download --torrent T --save DIR --port P [--no-web-seeds] [--timeout S] [--rate-limit B]
      Downloads T into DIR. Prints one JSON object on stdout (see report())
      and exits 0 when complete, 1 on timeout or error.

  ltclient.py info --torrent T
      Prints JSON: the v1 and v2 info hashes ("v1", "v2"; empty when the
      torrent has none), name, files, web seeds and the private flag
      ("private", BEP 27), as libtorrent reads them.

  ltclient.py magnet --uri URI
      Prints JSON: what parse_magnet_uri reads (hashes, name, trackers,
      url_seeds).

  ltclient.py seed --torrent T --save DIR --port P [--timeout S]
      Checks the files already in DIR, then seeds them. Prints one JSON
      line {"event": "seeding", ...} on stdout once the files check out and
      a tracker answered, then seeds until it is terminated.

Alerts (errors, tracker replies, web seed and peer events) go to stderr.
"""

import argparse
import json
import signal
import sys
import time

import libtorrent as lt


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def make_session(port, rate_limit=0):
    """A session on 127.0.0.1:port. rate_limit, in bytes per second (0:
    none), slows downloads from peers on the local network too (libtorrent
    exempts them from download_rate_limit), so that the report sees each
    peer while it is connected."""
    mask = (lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.tracker_notification
            | lt.alert.category_t.peer_notification
            | lt.alert.category_t.connect_notification
            | lt.alert.category_t.block_progress_notification)
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:%d" % port,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "user_agent": "pkgtorrent-e2e-libtorrent/" + lt.__version__,
        "alert_mask": mask,
    })
    if rate_limit:
        cls = ses.get_peer_class(lt.session.local_peer_class_id)
        cls["download_limit"] = rate_limit
        ses.set_peer_class(lt.session.local_peer_class_id, cls)
    return ses


def load(path, web_seeds):
    ti = lt.torrent_info(path)
    if not web_seeds:
        # The url-list is outside the info dictionary: dropping it leaves
        # the info hash alone and leaves peers as the only source.
        ti.set_web_seeds([])
    return ti


def add(ses, ti, save):
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    return ses.add_torrent(atp)


class Watcher:
    """Drains alerts to stderr and remembers what the test asks about."""

    def __init__(self, ses):
        self.ses = ses
        self.tracker_replies = 0
        self.errors = []
        self.blocks = {}  # endpoint -> blocks received from it

    def drain(self):
        for a in self.ses.pop_alerts():
            if isinstance(a, lt.block_finished_alert):
                key = "%s:%d" % (a.endpoint[0], a.endpoint[1])
                self.blocks[key] = self.blocks.get(key, 0) + 1
                continue
            if isinstance(a, lt.tracker_reply_alert):
                self.tracker_replies += 1
            if a.category() & lt.alert.category_t.error_notification:
                self.errors.append(a.message())
            log(type(a).__name__ + ":", a.message())


SOURCES = ["tracker", "dht", "pex", "lsd", "resume_data"]


def peer_sources(h, seen, port):
    """Records each connected peer (or web seed), how it was found (the
    peer source flags) and whether it connected to us. A connection to our
    own address (the tracker lists us too) is left out."""
    for p in h.get_peer_info():
        if p.ip == ("127.0.0.1", port):
            continue
        key = "%s:%d" % (p.ip[0], p.ip[1])
        kind = "peer" if p.connection_type == lt.peer_info.standard_bittorrent else "web_seed"
        e = seen.setdefault(key, {"endpoint": key, "kind": kind, "sources": [], "incoming": False, "downloaded": 0})
        for name in SOURCES:
            if p.source & getattr(lt.peer_info, name) and name not in e["sources"]:
                e["sources"].append(name)
        e["incoming"] = e["incoming"] or not (p.flags & lt.peer_info.outgoing_connection)
        e["downloaded"] = max(e["downloaded"], p.total_download)


def report(h, ti, seen, watcher, timed_out):
    st = h.status()
    return {
        "info_hash": str(ti.info_hashes().v1),
        "name": ti.name(),
        "total_size": ti.total_size(),
        "total_wanted": st.total_wanted,
        "total_wanted_done": st.total_wanted_done,
        "total_payload_download": st.total_payload_download,
        "total_failed_bytes": st.total_failed_bytes,
        "total_redundant_bytes": st.total_redundant_bytes,
        "num_pieces": ti.num_pieces(),
        "pieces_done": sum(1 for b in st.pieces if b),
        "is_seeding": st.is_seeding,
        "url_seeds": sorted(h.url_seeds()),
        "web_seeds_in_torrent": [w["url"] for w in ti.web_seeds()],
        "trackers": [t["url"] for t in h.trackers()],
        "tracker_replies": watcher.tracker_replies,
        "peers": sorted(seen.values(), key=lambda e: e["endpoint"]),
        "blocks_from": watcher.blocks,
        "errors": watcher.errors,
        "timed_out": timed_out,
        "libtorrent": lt.__version__,
    }


def download(args):
    ses = make_session(args.port, args.rate_limit)
    watcher = Watcher(ses)
    ti = load(args.torrent, not args.no_web_seeds)
    h = add(ses, ti, args.save)
    seen = {}
    deadline = time.time() + args.timeout
    timed_out = False
    while True:
        watcher.drain()
        peer_sources(h, seen, args.port)
        st = h.status()
        if st.is_seeding:
            break
        if time.time() > deadline:
            timed_out = True
            break
        if st.num_peers == 0 and st.state == lt.torrent_status.downloading:
            # Ask the tracker again rather than waiting for its interval:
            # the seeder may have announced after us.
            h.force_reannounce(0, -1)
        time.sleep(0.05 if st.num_peers else 0.25)
    h.flush_cache()
    watcher.drain()
    print(json.dumps(report(h, ti, seen, watcher, timed_out)), flush=True)
    return 1 if timed_out else 0


def seed(args):
    ses = make_session(args.port)
    watcher = Watcher(ses)
    ti = load(args.torrent, False)
    h = add(ses, ti, args.save)
    seen = {}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    deadline = time.time() + args.timeout
    announced = False
    while not stop:
        watcher.drain()
        peer_sources(h, seen, args.port)
        st = h.status()
        if not announced and st.is_seeding and watcher.tracker_replies > 0:
            announced = True
            print(json.dumps(dict(report(h, ti, seen, watcher, False), event="seeding")), flush=True)
        if not announced and time.time() > deadline:
            print(json.dumps(dict(report(h, ti, seen, watcher, True), event="failed")), flush=True)
            return 1
        time.sleep(0.1)
    st = h.status()
    log("seeder stopping: uploaded %d payload bytes" % st.total_payload_upload)
    return 0


def hashes(ih):
    return {
        "v1": str(ih.v1) if ih.has_v1() else "",
        "v2": str(ih.v2) if ih.has_v2() else "",
    }


def info(args):
    ti = lt.torrent_info(args.torrent)
    fs = ti.files()
    out = hashes(ti.info_hashes())
    out.update({
        "name": ti.name(),
        "files": [fs.file_path(i) for i in range(fs.num_files())],
        "web_seeds": [w["url"] for w in ti.web_seeds()],
        "private": ti.priv(),
    })
    print(json.dumps(out))
    return 0


def magnet(args):
    p = lt.parse_magnet_uri(args.uri)
    out = hashes(p.info_hashes)
    out.update({"name": p.name, "trackers": list(p.trackers), "url_seeds": list(p.url_seeds)})
    print(json.dumps(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["download", "seed", "info", "magnet"])
    ap.add_argument("--torrent")
    ap.add_argument("--uri")
    ap.add_argument("--save")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-web-seeds", action="store_true")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--rate-limit", type=int, default=0, help="download bytes per second (0: none)")
    args = ap.parse_args()
    need = {"download": ["torrent", "save"], "seed": ["torrent", "save"], "info": ["torrent"], "magnet": ["uri"]}
    for name in need[args.mode]:
        if getattr(args, name) is None:
            ap.error("%s needs --%s" % (args.mode, name))
    return {"download": download, "seed": seed, "info": info, "magnet": magnet}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
