package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// The generated mirror under -dir: first-level folder "yum", as a mirror
// has, so that every multi-file request is valid.
const (
	bigFile   = "yum/iso/big.iso"  // target 1: 2 GiB
	hugeFile  = "yum/iso/huge.iso" // target 5: 4 GiB
	midFile   = "yum/iso/mid.iso"  // target 5: 512 MiB
	pkgDir    = "yum/el9/Packages" // target 2: numPkgs RPM-sized files
	numPkgs   = 2000
	minPkg    = 8 << 10
	maxPkg    = 8 << 20
	dataStamp = "data-v1" // bump when the data's shape changes
)

// pkgName is the file name of package i.
func pkgName(i int) string { return fmt.Sprintf("pkg-%04d-1.0-1.x86_64.rpm", i) }

// pkgSizes returns the sizes of the packages: log-uniform between minPkg
// and maxPkg, the same on every run.
func pkgSizes() []int64 {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int64, numPkgs)
	lo, hi := math.Log(minPkg), math.Log(maxPkg)
	for i := range sizes {
		sizes[i] = int64(math.Exp(lo + r.Float64()*(hi-lo)))
	}
	return sizes
}

// makeData writes the mirror under dir unless a stamp says it is there.
func makeData(dir string) error {
	stamp := filepath.Join(dir, dataStamp)
	if _, err := os.Stat(stamp); err == nil {
		return nil
	}
	say("generating the benchmark data under %s (once; about 9 GiB)", dir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	seed := uint64(0)
	write := func(rel string, size int64) error {
		seed++
		return writeRandom(filepath.Join(dir, rel), size, seed)
	}
	for _, f := range []struct {
		rel  string
		size int64
	}{{bigFile, 2 << 30}, {hugeFile, 4 << 30}, {midFile, 512 << 20}} {
		if err := write(f.rel, f.size); err != nil {
			return err
		}
	}
	for i, size := range pkgSizes() {
		if err := write(filepath.Join(pkgDir, pkgName(i)), size); err != nil {
			return err
		}
	}
	if err := os.WriteFile(stamp, nil, 0o644); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// writeRandom writes size pseudo-random bytes to name.
func writeRandom(name string, size int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	var key [32]byte
	copy(key[:], strconv.FormatUint(seed, 10))
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8(key), size); err != nil {
		f.Close()
		return fmt.Errorf("data: %s: %w", name, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("data: %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// warmPageCache reads every file under dir, so that timings measure
// hashing, not the disk.
func warmPageCache(dir string) error {
	buf := make([]byte, 1<<20)
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		return err
	})
}
