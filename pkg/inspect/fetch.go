package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// MaxSize bounds the torrent Read accepts: far above any real torrent's
// size, far below what would hurt.
const MaxSize = 64 << 20

// ErrTooLarge reports a torrent larger than the limit.
var ErrTooLarge = errors.New("torrent too large")

// Read returns the bytes of the torrent at src: an http:// or https://
// URL, fetched with client (http.DefaultClient when nil), or a file name.
// It reads at most max bytes (MaxSize when 0).
func Read(ctx context.Context, src string, client *http.Client, max int64) ([]byte, error) {
	if max <= 0 {
		max = MaxSize
	}
	var r io.Reader
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		if client == nil {
			client = http.DefaultClient
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("inspect: %w", err)
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("inspect: %w", err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(res.Body, 200))
			return nil, fmt.Errorf("inspect: GET %s: %s: %s", src, res.Status, strings.TrimSpace(string(msg)))
		}
		if res.ContentLength > max {
			return nil, fmt.Errorf("inspect: %s: %w: %d bytes, more than %d", src, ErrTooLarge, res.ContentLength, max)
		}
		r = res.Body
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("inspect: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("inspect: %s: %w", src, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("inspect: %s: %w: more than %d bytes", src, ErrTooLarge, max)
	}
	return b, nil
}
