package torrent

const (
	protocolLoggingName = "protocol"
	v2HashesLogName     = "v2hashes"
)
