module github.com/pkgtorrent/pkgtorrent-service

go 1.26.8

require (
	github.com/gobwas/glob v1.1.0
	github.com/jackpal/bencode-go v1.1.0
	golang.org/x/sys v0.50.0
)
