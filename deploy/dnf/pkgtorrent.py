# pkgtorrent: a dnf 4 plugin that tells the local pkgtorrent-agent which
# packages a transaction is about to download, so that the agent starts
# every torrent at once instead of three at a time as dnf asks for them.
#
# It only helps: dnf still downloads through the repo's baseurl (the agent
# first, the mirror second), and the plugin never raises into dnf.
#
# It also puts the agent's host in no_proxy in dnf's own environment, so
# that a host whose dnf.conf (or repo) sets proxy= reaches its agent
# directly: librepo sends every URL of a repo through its proxy, the
# agent's 127.0.0.1 one too, and a proxy elsewhere cannot reach this
# host's loopback. curl, under librepo, honours no_proxy for the proxy dnf
# sets; the mirror's URLs still go through the proxy. Its
# timeout bounds the whole call (connecting, sending and reading the
# answer), however slowly the agent answers, and it reads at most 1 MiB of
# answer. Install as
# /usr/lib/python3/dist-packages/dnf-plugins/pkgtorrent.py (Debian) or
# /usr/lib/python3.*/site-packages/dnf-plugins/pkgtorrent.py (RHEL, Fedora),
# with pkgtorrent.conf in /etc/dnf/plugins/.

import json
import logging
import os
import threading
import time
import urllib.parse
import urllib.request

import dnf

logger = logging.getLogger('dnf.plugin.pkgtorrent')

# The most of the agent's answer that is read: it is a few counters and the
# refused URLs, far below this.
MAX_ANSWER = 1 << 20


def post(url, body, timeout, deadline, out):
    """POSTs body to url and stores the decoded JSON answer in out['answer'],
    or the error in out['error']. It stops reading at the deadline (a
    time.monotonic() value) or past MAX_ANSWER bytes."""
    try:
        req = urllib.request.Request(
            url, data=body, method='POST',
            headers={'Content-Type': 'application/json'})
        # Never through a proxy: the agent is on this host.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=timeout) as resp:
            data = b''
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError('the answer took longer than %gs' % timeout)
                chunk = resp.read1(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) > MAX_ANSWER:
                    raise ValueError('the answer is longer than %d bytes' % MAX_ANSWER)
        out['answer'] = json.loads(data.decode('utf-8'))
    except Exception as e:
        out['error'] = e


def bypass_proxy(agent, environ=os.environ):
    """Adds the host of the agent's URL to no_proxy in environ, so that
    curl (librepo) connects to the agent directly whatever proxy dnf uses.
    no_proxy keeps the names it had, or NO_PROXY's, which curl reads only
    when no_proxy is not set."""
    host = urllib.parse.urlsplit(agent).hostname
    if not host:
        return
    current = environ.get('no_proxy')
    if current is None:
        current = environ.get('NO_PROXY', '')
    names = [n.strip() for n in current.split(',') if n.strip()]
    if host in names or '*' in names:
        return
    environ['no_proxy'] = ','.join(names + [host])


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
        # config() runs before dnf loads any repo: every download of the
        # run sees it.
        try:
            bypass_proxy(self.agent)
        except Exception as e:
            logger.debug('pkgtorrent: no_proxy: %s', e)

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
            # The request runs in a thread that dnf waits for at most
            # timeout seconds in all: a socket timeout alone bounds each
            # read, not the call, and an agent (or whoever holds its
            # port) that drips its answer would hold dnf. The thread
            # stops by itself at the deadline.
            out = {}
            deadline = time.monotonic() + self.timeout
            t = threading.Thread(target=post, daemon=True,
                                 args=(self.agent + '/prefetch', body, self.timeout, deadline, out))
            t.start()
            t.join(self.timeout)
            if t.is_alive():
                logger.debug('pkgtorrent: no prefetch: no answer within %gs', self.timeout)
                return
            if 'error' in out:
                raise out['error']
            answer = out['answer']
            logger.debug('pkgtorrent: prefetching %d packages, %d refused',
                          answer.get('accepted', 0), len(answer.get('refused', [])))
        except Exception as e:
            logger.debug('pkgtorrent: no prefetch: %s', e)
