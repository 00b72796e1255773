package engine

import "github.com/anacrolix/torrent"

// clientName is the client name the agent gives in its extended
// handshake: a peer that gives it runs this engine, which asks a peer
// again for a block it refused when none of its other peers has the
// block's piece (third_party/torrent, PATCHED.md change 8).
const clientName = "pkgtorrent-agent"

// uploadShare is the engine's upload rule for the upload-share setting
// (nil for 0: no rule). Until the requests a torrent took to serve hold
// share copies of its length, every request is served. Past that, a
// request is refused the first time it comes when another of the
// torrent's connected peers has its piece, or when the asking peer is an
// agent: an agent then takes the block from another of its peers that
// has the piece, and asks again if none has. A request asked again after
// a refusal is served, and so is one for a piece no other connected peer
// has from a peer that is not an agent. The bound thus never leaves a
// block without a source: what a host uploads of a torrent is share
// copies, plus the blocks its peers could get from no one else.
//
// The engine calls it with its lock held; it reads only the request.
func uploadShare(share float64) func(*torrent.UploadRequest) bool {
	if share <= 0 {
		return nil
	}
	return func(u *torrent.UploadRequest) bool {
		switch {
		case float64(u.Accepted()+u.Size()) <= share*float64(u.TorrentLength()):
			return true
		case u.AskedAgain():
			return true
		case u.PeerClientName() == clientName:
			return false
		default:
			return !u.OthersHave()
		}
	}
}
