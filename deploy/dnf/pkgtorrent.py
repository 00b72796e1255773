# pkgtorrent: a dnf 4 plugin that tells the local pkgtorrent-agent which
# packages a transaction is about to download, so that the agent starts
# every torrent at once instead of three at a time as dnf asks for them.
#
# It only helps: dnf still downloads through the repo's baseurl (the agent
# first, the mirror second), and the plugin never raises into dnf and never
# waits longer than its timeout. Install as
# /usr/lib/python3/dist-packages/dnf-plugins/pkgtorrent.py (Debian) or
# /usr/lib/python3.*/site-packages/dnf-plugins/pkgtorrent.py (RHEL, Fedora),
# with pkgtorrent.conf in /etc/dnf/plugins/.

import json
import logging
import urllib.request

import dnf

logger = logging.getLogger('dnf.plugin.pkgtorrent')


class PkgTorrent(dnf.Plugin):
    name = 'pkgtorrent'

    def __init__(self, base, cli):
        super(PkgTorrent, self).__init__(base, cli)
        self.agent = 'http://127.0.0.1:7881'
        self.timeout = 2.0

    def config(self):
        try:
            conf = self.read_config(self.base.conf)
            if conf.has_option('main', 'agent'):
                self.agent = conf.get('main', 'agent').rstrip('/')
            if conf.has_option('main', 'timeout'):
                self.timeout = conf.getfloat('main', 'timeout')
        except Exception as e:  # never break dnf over this plugin
            logger.debug('pkgtorrent: reading the configuration: %s', e)

    def resolved(self):
        # resolved() runs before the user confirms: with --assumeno
        # nothing will be downloaded, so nothing is prefetched. Otherwise
        # a prefetch that turns out unused costs the agent only its bytes.
        try:
            if getattr(self.base.conf, 'assumeno', False):
                return
            packages = []
            for pkg in self.base.transaction.install_set:
                url = pkg.remote_location()
                if not url or not url.startswith(('http://', 'https://')):
                    continue
                kind, digest = pkg.returnIdSum()
                if kind != 'sha256':
                    continue
                packages.append({'url': url, 'size': int(pkg.downloadsize),
                                 'sha256': digest})
            if not packages:
                return
            body = json.dumps({'packages': packages}).encode('utf-8')
            req = urllib.request.Request(
                self.agent + '/prefetch', data=body, method='POST',
                headers={'Content-Type': 'application/json'})
            # Never through a proxy: the agent is on this host.
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(req, timeout=self.timeout) as resp:
                answer = json.loads(resp.read().decode('utf-8'))
            logger.debug('pkgtorrent: prefetching %d packages, %d refused',
                          answer.get('accepted', 0), len(answer.get('refused', [])))
        except Exception as e:
            logger.debug('pkgtorrent: no prefetch: %s', e)
