module github.com/pkgtorrent/pkgtorrent-service/cmd/pkgtorrent-agent

go 1.26.8
