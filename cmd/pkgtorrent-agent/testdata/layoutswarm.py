#!/usr/bin/python3
"""Swarms of real libtorrent clients for BenchmarkFetchLayout.

Runs under Debian's /usr/bin/python3 with python3-libtorrent:

  layoutswarm.py PLAN.json

PLAN names an origin and hosts, each a libtorrent session in this process
on its own 127.0.0.1 port (its own listen socket, peer id, network and
disk threads), without DHT, local service discovery, UPnP or NAT-PMP:

  {"timeout": S, "origin_rate": B,
   "origin": {"port": P, "torrents": [{"torrent": F, "save": DIR}, ...]},
   "hosts": [{"name": N, "port": P, "save": DIR, "torrents": [F, ...]}, ...]}

The web seeds (url-list, outside the info dictionary, so the info hash
stays) are dropped from every torrent: the origin is a BitTorrent seed,
whose upload is limited to origin_rate bytes per second, as a mirror's
link is. It checks its files and announces every torrent; then every host
adds all of its torrents at once and downloads from the peers the tracker
returns. Prints one JSON object on stdout (see main) and exits 0 when every
host finished within S seconds, 1 otherwise. Errors go to stderr.

Cross-check of the origin's bytes: the origin's peer id starts with
ORIGIN_FP, so each host counts the bytes of the blocks it received from
the origin (block_finished_alert), independently of the origin's own
payload counter; from_origin_pad is the padding within those blocks,
which a client may or may not count as payload.
"""

import json
import sys
import time

import libtorrent as lt

ORIGIN_FP = "-PO0001-"
BLOCK = 16384
SETTLE = 3  # seconds


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def make_session(port, fingerprint=None, upload_limit=0):
    settings = {
        "listen_interfaces": "127.0.0.1:%d" % port,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Every peer is 127.0.0.1, on its own port.
        "allow_multiple_connections_per_ip": True,
        # Every torrent active, every peer unchoked: what is measured is
        # the layout's swarms, not a queue or a choker.
        "active_downloads": -1,
        "active_seeds": -1,
        "active_limit": -1,
        "unchoke_slots_limit": -1,
        "connections_limit": 4000,
        "alert_queue_size": 1000000,
        "alert_mask": (lt.alert.category_t.error_notification
                       | lt.alert.category_t.status_notification
                       | lt.alert.category_t.tracker_notification
                       | lt.alert.category_t.block_progress_notification),
    }
    if fingerprint:
        settings["peer_fingerprint"] = fingerprint
    ses = lt.session(settings)
    if upload_limit:
        # Peers on 127.0.0.1 are in the local peer class, which the
        # session-wide upload_rate_limit does not cover: limit both.
        ses.apply_settings({"upload_rate_limit": upload_limit})
        cls = ses.get_peer_class(lt.session.local_peer_class_id)
        cls["upload_limit"] = upload_limit
        ses.set_peer_class(lt.session.local_peer_class_id, cls)
    return ses


def add(ses, path, save):
    ti = lt.torrent_info(path)
    ti.set_web_seeds([])
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    return ses.add_torrent(atp), ti


class Host:
    def __init__(self, spec):
        self.name = spec["name"]
        self.spec = spec
        self.ses = make_session(spec["port"])
        self.handles = []  # (handle, torrent_info)
        self.from_origin = 0  # bytes of blocks received from the origin
        self.from_origin_pad = 0  # of which padding (BEP 47)
        self.layout = {}  # v1 info hash -> (torrent_info, padding ranges)
        self.blocks = 0
        self.dropped = False
        self.errors = []
        self.finished_hashes = set()  # from torrent_finished_alert
        self.done_at = None

    def start(self):
        for path in self.spec["torrents"]:
            h, ti = add(self.ses, path, self.spec["save"])
            fs = ti.files()
            pads = [(fs.file_offset(i), fs.file_offset(i) + fs.file_size(i))
                    for i in range(fs.num_files())
                    if fs.file_flags(i) & lt.file_storage.flag_pad_file]
            self.layout[str(ti.info_hashes().v1)] = (ti, pads)
            self.handles.append((h, ti))

    def drain(self):
        for a in self.ses.pop_alerts():
            if isinstance(a, lt.block_finished_alert):
                self.blocks += 1
                if a.pid.to_bytes().startswith(ORIGIN_FP.encode()):
                    ti, pads = self.layout[str(a.handle.info_hashes().v1)]
                    start = a.piece_index * ti.piece_length() + a.block_index * BLOCK
                    end = start + min(BLOCK, ti.piece_size(a.piece_index) - a.block_index * BLOCK)
                    self.from_origin += end - start
                    self.from_origin_pad += sum(max(0, min(end, e) - max(start, s)) for s, e in pads)
            elif isinstance(a, lt.torrent_finished_alert):
                self.finished_hashes.add(str(a.handle.info_hashes().v1))
            elif isinstance(a, lt.alerts_dropped_alert):
                self.dropped = True
                log(self.name, "alerts dropped: the origin cross-check is incomplete")
            elif a.category() & lt.alert.category_t.error_notification:
                self.errors.append(a.message())
                log(self.name, type(a).__name__ + ":", a.message())

    def finished(self):
        # From the alerts: asking each of a host's torrents for its status
        # many times a second would take the CPU the sessions need.
        return len(self.finished_hashes) == len(self.handles)

    def report(self, t0):
        out = {"name": self.name, "payload_download": 0, "payload_upload": 0,
               "redundant": 0, "failed": 0, "wanted": 0, "wanted_done": 0,
               "from_origin": self.from_origin, "from_origin_pad": self.from_origin_pad,
               "blocks": self.blocks,
               "alerts_dropped": self.dropped, "errors": self.errors,
               "seconds": None if self.done_at is None else self.done_at - t0,
               "url_seeds": [], "torrents": []}
        for h, ti in self.handles:
            st = h.status()
            out["payload_download"] += st.total_payload_download
            out["payload_upload"] += st.total_payload_upload
            out["redundant"] += st.total_redundant_bytes
            out["failed"] += st.total_failed_bytes
            out["wanted"] += st.total_wanted
            out["wanted_done"] += st.total_wanted_done
            out["url_seeds"] += sorted(h.url_seeds())
            out["torrents"].append({"info_hash": str(ti.info_hashes().v1), "name": ti.name(),
                                    "seeding": st.is_seeding})
        return out


def wait(what, deadline, ready, drain):
    while not ready():
        drain()
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    deadline = time.monotonic() + plan["timeout"]

    origin = make_session(plan["origin"]["port"], ORIGIN_FP, plan["origin_rate"])
    handles = [add(origin, t["torrent"], t["save"])[0] for t in plan["origin"]["torrents"]]
    replied = set()

    def drain_origin():
        for a in origin.pop_alerts():
            if isinstance(a, lt.tracker_reply_alert):
                replied.add(str(a.handle.info_hashes().v1))
            elif a.category() & lt.alert.category_t.error_notification:
                log("origin", type(a).__name__ + ":", a.message())

    hosts = [Host(s) for s in plan["hosts"]]

    def drain_all():
        drain_origin()
        for h in hosts:
            h.drain()

    result = {"ok": False}
    try:
        # The origin has every file: checking must leave it seeding.
        wait("origin checking its files", deadline,
             lambda: all(h.status().state not in (lt.torrent_status.checking_files,
                                                  lt.torrent_status.checking_resume_data)
                         for h in handles), drain_all)
        bad = [h.name() for h in handles if not h.status().is_seeding]
        if bad:
            raise RuntimeError("the origin lacks data of %s" % bad)
        # Hosts find it only through the tracker.
        for h in handles:
            h.force_reannounce()
        wait("the tracker's replies to the origin", deadline,
             lambda: all(str(h.info_hashes().v1) in replied for h in handles), drain_all)

        t0 = time.monotonic()
        for h in hosts:
            h.start()

        def all_done():
            now = time.monotonic()
            for h in hosts:
                if h.done_at is None and h.finished():
                    h.done_at = now
            return all(h.done_at is not None for h in hosts)

        try:
            wait("the hosts' downloads", deadline, all_done, drain_all)
            result["ok"] = True
        except TimeoutError as e:
            result["error"] = "timed out waiting for %s" % e
        result["seconds"] = time.monotonic() - t0
        # A torrent's byte counters take in its connections' once a second:
        # let them settle before reading them.
        settle = time.monotonic() + SETTLE
        while time.monotonic() < settle:
            drain_all()
            time.sleep(0.05)
        drain_all()
        up = 0
        for h in handles:
            st = h.status()
            up += st.total_payload_upload
        result["origin"] = {"payload_upload": up, "url_seeds": sum((sorted(h.url_seeds()) for h in handles), [])}
        result["hosts"] = [h.report(t0) for h in hosts]
    except Exception as e:  # reported on stdout, as the Go side reads it
        result["error"] = "%s: %s" % (type(e).__name__, e)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    for s in [origin] + [h.ses for h in hosts]:
        s.pause()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
