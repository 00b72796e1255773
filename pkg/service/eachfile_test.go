package service

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/pieces"
)

func TestEachFileKeepsRequestOrder(t *testing.T) {
	s := &Service{}
	paths := make([]string, 50)
	for i := range paths {
		paths[i] = fmt.Sprintf("f%02d", i)
	}
	got := make([]string, len(paths))
	var running, most atomic.Int64
	err := s.eachFile(paths, func(i int, p string, workers int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if workers < 1 || int64(workers)*int64(min(runtime.GOMAXPROCS(0), len(paths))) > int64(runtime.GOMAXPROCS(0)) {
			t.Errorf("workers %d: more than GOMAXPROCS pieces in flight", workers)
		}
		time.Sleep(time.Duration(len(paths)-i) * 50 * time.Microsecond) // later files finish first
		got[i] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		if got[i] != p {
			t.Fatalf("result %d is %q, want %q", i, got[i], p)
		}
	}
	if m, want := most.Load(), int64(pieces.FilesAtOnce(false)); m > want {
		t.Errorf("%d files at once, want at most pieces.FilesAtOnce (%d)", m, want)
	}
}

func TestEachFileFirstErrorInRequestOrder(t *testing.T) {
	s := &Service{}
	paths := []string{"a", "b", "c", "d", "e", "f"}
	errB, errE := errors.New("b failed"), errors.New("e failed")
	for range 20 {
		err := s.eachFile(paths, func(i int, p string, _ int) error {
			switch p {
			case "b":
				time.Sleep(2 * time.Millisecond) // fails after e
				return errB
			case "e":
				return errE
			}
			return nil
		})
		if err != errB {
			t.Fatalf("error %v, want the earliest file's, %v", err, errB)
		}
	}
}

func TestEachFileRaisesPanicInCaller(t *testing.T) {
	s := &Service{}
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the worker's panic", p)
		}
	}()
	s.eachFile([]string{"a", "b", "c"}, func(i int, p string, _ int) error {
		if p == "b" {
			panic("boom")
		}
		return nil
	})
	t.Fatal("eachFile returned after a panic")
}
