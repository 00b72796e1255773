package torrent

// pkgtorrent: this file is not in the release (PATCHED.md, change 11).

import (
	"slices"
	"time"
)

// A piece that no other connected peer has is uploaded to at most
// ClientConfig.UploadFanOut peers at a time. Served to every peer that
// asks, as the release does, a piece one peer alone has reaches all of
// them at once, each at a share of that peer's upload, and none can pass
// it on before all have it: in a fleet whose hosts read a file from its
// start together, a host that has the file first serves each the same
// first pieces. The other peers' requests for the piece are held: kept
// outstanding, neither served nor refused, taking no read reservation,
// until another connected peer has the piece (then they are refused, so
// that the requester takes the piece there, PATCHED.md change 8) or until
// they have waited ClientConfig.UploadHold (then they are served). A
// block is refused once at most, as AllowUpload's are: a request held
// after the peer asked for it again, refused before, is served when
// another peer has the piece, and a request refused on release is served
// when the peer asks for it again (PATCHED.md change 8). A peer that
// cancels a held request is told it is refused (BEP 6).

// heldRequest is when a held request came, and whether it was asked
// again after a refusal.
type heldRequest struct {
	at    time.Time
	again bool
}

// holdUpload holds r when its piece is one no other connected peer has
// and UploadFanOut other peers are being served it; it reports whether
// it held r. A peer stays among those served a piece until another peer
// (it or any) has the piece, or it closes.
func (c *PeerConn) holdUpload(r Request, again bool) bool {
	t := c.t
	fanOut := t.cl.config.UploadFanOut
	if fanOut <= 0 || t.cl.config.UploadHold <= 0 || !c.fastEnabled() {
		return false
	}
	p := pieceIndex(r.Index)
	if c.othersHavePiece(p) {
		return false
	}
	served := t.uploadFanOut[p]
	if slices.Contains(served, c) {
		return false
	}
	if len(served) < fanOut {
		if t.uploadFanOut == nil {
			t.uploadFanOut = make(map[pieceIndex][]*PeerConn)
		}
		t.uploadFanOut[p] = append(served, c)
		return false
	}
	if c.heldRequests == nil {
		c.heldRequests = make(map[Request]heldRequest)
	}
	c.heldRequests[r] = heldRequest{time.Now(), again}
	torrent.Add("requests held for the fan-out", 1)
	if len(c.heldRequests) == 1 {
		c.armHoldTimer(t.cl.config.UploadHold)
	}
	return true
}

// othersHavePiece tells whether another of the torrent's connected
// peers, not c, has piece p.
func (c *PeerConn) othersHavePiece(p pieceIndex) bool {
	for o := range c.t.conns {
		if o != c && !o.closed.IsSet() && o.peerHasPiece(p) {
			return true
		}
	}
	return false
}

func (c *PeerConn) armHoldTimer(d time.Duration) {
	if c.holdTimer == nil {
		c.holdTimer = time.AfterFunc(d, c.onHoldTimer)
	} else {
		c.holdTimer.Reset(d)
	}
}

// onHoldTimer serves the held requests that have waited UploadHold, in
// the order they came, and waits for the next one.
func (c *PeerConn) onHoldTimer() {
	c.locker().Lock()
	defer c.locker().Unlock()
	if c.closed.IsSet() || len(c.heldRequests) == 0 {
		return
	}
	hold := c.t.cl.config.UploadHold
	now := time.Now()
	var due []Request
	next := time.Duration(0)
	for r, h := range c.heldRequests {
		if wait := h.at.Add(hold).Sub(now); wait <= 0 {
			due = append(due, r)
		} else if next == 0 || wait < next {
			next = wait
		}
	}
	slices.SortFunc(due, func(a, b Request) int { return c.heldRequests[a].at.Compare(c.heldRequests[b].at) })
	for _, r := range due {
		delete(c.heldRequests, r)
		torrent.Add("held requests served after the hold", 1)
		c.acceptPeerRequest(r, true)
	}
	if next > 0 {
		c.armHoldTimer(next)
	}
}

// pieceGotElsewhere is called when peer from has piece p (a have
// message): p is no longer one peer's alone, and the requests held for
// it on the torrent's other connections are refused, so that their peers
// take it from another peer; those refused before are served.
func (t *Torrent) pieceGotElsewhere(from *PeerConn, p pieceIndex) {
	delete(t.uploadFanOut, p)
	for c := range t.conns {
		if c == from || len(c.heldRequests) == 0 {
			continue
		}
		for r, h := range c.heldRequests {
			if pieceIndex(r.Index) != p {
				continue
			}
			delete(c.heldRequests, r)
			if h.again {
				torrent.Add("held requests served as another peer has the piece", 1)
				c.acceptPeerRequest(r, true)
				continue
			}
			torrent.Add("held requests refused as another peer has the piece", 1)
			if t.cl.config.AllowUpload != nil {
				c.uploadRefused.Add(t.requestIndexFromRequest(r))
			}
			c.reject(r)
		}
	}
}

// cancelHeld refuses a held request its peer cancelled, as BEP 6 asks;
// it reports whether r was held.
func (c *PeerConn) cancelHeld(r Request) bool {
	if _, ok := c.heldRequests[r]; !ok {
		return false
	}
	delete(c.heldRequests, r)
	c.reject(r)
	return true
}

// dropHeld forgets c's held requests and its place among the peers
// served a piece, when it closes.
func (c *PeerConn) dropHeld() {
	if c.holdTimer != nil {
		c.holdTimer.Stop()
	}
	if c.t == nil {
		return
	}
	c.heldRequests = nil
	for p, served := range c.t.uploadFanOut {
		if i := slices.Index(served, c); i >= 0 {
			c.t.uploadFanOut[p] = slices.Delete(served, i, i+1)
		}
	}
}
