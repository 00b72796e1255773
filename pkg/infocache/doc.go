// Package infocache stores finished torrents per request: the bencoded
// info dictionary and what it was built from, so that a repeated request
// is answered without hashing or encoding anything.
//
// # Format
//
// An entry is info/{key} under the cache folder, where key is the SHA-1
// (Key) of the request text: for a digest request the "\n"-joined paths,
// so that the key is the digest; in single mode a NUL, "single\n" and
// the "\n"-joined matched files, so that every glob that matches the same
// files shares one entry (package service). The folder is kept within a
// size as entries are written, least recently used first (Bound). It holds the
// request text, the settings that shaped the info (format, piece length,
// private flag, service name, document root: Settings), the bencoded info and, for a
// hybrid torrent, its piece layers, the build time (the torrent's
// Last-Modified), and each file's path and Stamp (size, mtime, ctime,
// device, inode) in torrent order. It is written atomically and framed by package
// cachefile's envelope, magic "PTIC"; Encode gives the byte layout. An
// entry whose request text does not hash to its name, made under other
// settings, or that does not decode cleanly is rebuilt.
//
// # Times
//
// The modification time of an entry's file is the last time its source
// files were checked; Touch moves it forward after a successful check.
// Once that is older than the revalidate setting, or in the future (a
// clock stepped back), the service checks the files' stamps again (and, in single mode, expands the glob again); any
// change rebuilds the entry. Its access time is the last time a torrent
// was served from it (see MarkUsed and package cachefile);
// pkgtorrent-service gc goes by that.
package infocache
