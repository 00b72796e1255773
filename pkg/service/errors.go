package service

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/docroot"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/piececache"
	"github.com/pkgtorrent/pkgtorrent-service/pkg/torrent"
)

// Error is the one error type a client sees: an HTTP status and a one-line
// message. Every other error is logged and answered with a generic 500.
type Error struct {
	Status int
	Msg    string
	Err    error // the cause, for the log; may be nil
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// clientError returns an *Error with a formatted message.
func clientError(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// ErrBusy reports a file that kept changing while it was hashed.
var ErrBusy = piececache.ErrChanged

// ErrWaitTimeout reports a request that waited the lock-timeout setting
// for another request or process building the same torrent or hashing
// the same file.
var ErrWaitTimeout = errors.New("waited too long for the same work elsewhere")

// toClient maps an error to what the client is told. This is the one place
// where sentinels of other packages become HTTP statuses.
func toClient(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &Error{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit), err}
	case errors.Is(err, docroot.ErrOutside), errors.Is(err, docroot.ErrPermission):
		return &Error{http.StatusForbidden, "forbidden: " + err.Error(), err}
	case errors.Is(err, docroot.ErrNotFound):
		return &Error{http.StatusNotFound, "not found: " + err.Error(), err}
	case errors.Is(err, docroot.ErrInvalid), errors.Is(err, docroot.ErrTooMany),
		errors.Is(err, torrent.ErrMixedFolders), errors.Is(err, torrent.ErrNoFolder):
		return &Error{http.StatusBadRequest, "bad request: " + err.Error(), err}
	case errors.Is(err, ErrBusy), errors.Is(err, ErrWaitTimeout), errors.Is(err, docroot.ErrTooSlow):
		return &Error{http.StatusServiceUnavailable, "try again later: " + err.Error(), err}
	}
	return &Error{http.StatusInternalServerError, "internal error", err}
}

// writeError answers with the client view of err, as one text/plain line.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ce := toClient(err)
	level := slog.LevelInfo
	switch {
	case ce.Status == http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case ce.Status >= 500:
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", ce.Status, "err", err)
	msg := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, ce.Msg)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if ce.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	w.WriteHeader(ce.Status)
	if r.Method != http.MethodHead {
		fmt.Fprintln(w, msg)
	}
}
