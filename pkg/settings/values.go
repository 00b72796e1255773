package settings

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The values below print "" when their pointer is nil, as the zero value
// of their type that flag.PrintDefaults makes is: so -h shows every
// default that is not empty, "0" included.

// value is a flag.Value over *p: Set parses, String formats.
type value[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (v value[T]) String() string {
	if v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

func (v value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

// Func returns a Value that sets *p to parse's result and prints it with
// format.
func Func[T any](p *T, parse func(string) (T, error), format func(T) string) flag.Value {
	return value[T]{p, parse, format}
}

// String returns a Value that sets *p to the text as it is.
func String(p *string) flag.Value {
	return value[string]{p, func(s string) (string, error) { return s, nil }, func(s string) string { return s }}
}

// Int returns a Value that reads a decimal integer into *p.
func Int(p *int) flag.Value {
	return value[int]{p, strconv.Atoi, strconv.Itoa}
}

// Bool returns a Value that reads true or false into *p (or what else
// strconv.ParseBool reads: 1, 0, t, f, TRUE, False...). As a flag it
// stands alone: -name is -name=true; false is given as -name=false.
func Bool(p *bool) flag.Value {
	parse := func(s string) (bool, error) {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	}
	return boolValue{value[bool]{p, parse, strconv.FormatBool}}
}

// boolValue is the Value of Bool.
type boolValue struct{ value[bool] }

// IsBoolFlag tells package flag that the flag needs no value.
func (boolValue) IsBoolFlag() bool { return true }

// Duration returns a Value that reads *p as time.ParseDuration does
// ("90s", "1h30m") and prints it as time.Duration.String ("1m30s").
func Duration(p *time.Duration) flag.Value {
	return value[time.Duration]{p, time.ParseDuration, time.Duration.String}
}

// Size returns a Value that reads a size (see ParseSize) into *p and
// prints it in bytes.
func Size[T ~int | ~int64](p *T) flag.Value {
	parse := func(s string) (T, error) {
		n, err := ParseSize(s)
		if err != nil || int64(T(n)) != n {
			return 0, fmt.Errorf("%q is not a size in bytes", s)
		}
		return T(n), nil
	}
	return value[T]{p, parse, func(n T) string { return strconv.FormatInt(int64(n), 10) }}
}

// MaxSize is the largest size ParseSize reads: 1 PiB.
const MaxSize = 1 << 50

// sizeSuffixes are the suffixes of ParseSize, the longer of each pair
// first.
var sizeSuffixes = []struct {
	s string
	m int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"K", 1 << 10}, {"k", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
}

// ParseSize reads a byte count from 0 to MaxSize: decimal digits,
// optionally followed by a K (or k), KiB, M, MiB, G, GiB, T or TiB suffix
// for a power of 1024. Spaces around the number are ignored.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, suf := range sizeSuffixes {
		if strings.HasSuffix(s, suf.s) {
			num, mult = strings.TrimSuffix(s, suf.s), suf.m
			break
		}
	}
	num = strings.TrimSpace(num)
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > MaxSize/mult {
		return 0, fmt.Errorf("%q is not a size in bytes", s)
	}
	return n * mult, nil
}

// List returns the Value of a repeatable setting: each Set appends to *p,
// except the first of each source (see the package doc), which replaces
// it. It prints the list joined by spaces.
func List(p *[]string) flag.Value {
	return &list{p: p}
}

type list struct {
	p *[]string
	// given is set by the first Set of the current source.
	given bool
}

func (l *list) String() string {
	if l == nil || l.p == nil {
		return ""
	}
	return strings.Join(*l.p, " ")
}

func (l *list) Set(s string) error {
	if !l.given {
		*l.p = nil
		l.given = true
	}
	*l.p = append(*l.p, s)
	return nil
}
