package settings

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// conf is a program's configuration, with one setting of each kind.
type conf struct {
	Name  string
	Count int
	Size  int64
	Small int
	Wait  time.Duration
	Kind  string
	Items []string
	Other []string
	On    bool
}

func defaults() conf {
	return conf{Name: "n", Count: 3, Size: 1 << 20, Wait: time.Second, Kind: "a", Items: []string{"*.rpm"}}
}

func (c *conf) table() Table {
	var t Table
	t.Add("name", String(&c.Name), "a name")
	t.Add("count", Int(&c.Count), "how many")
	t.Add("size", Size(&c.Size), "bytes")
	t.Add("small", Size(&c.Small), "bytes, as an int")
	t.Add("wait", Duration(&c.Wait), "how long")
	t.Add("kind", Func(&c.Kind, func(s string) (string, error) {
		if s != "a" && s != "b" {
			return "", fmt.Errorf("%q is not a or b", s)
		}
		return s, nil
	}, func(s string) string { return s }), "a or b")
	t.Add("items", List(&c.Items), "patterns (repeatable)")
	t.Add("other", List(&c.Other), "more (repeatable)")
	t.Add("on", Bool(&c.On), "a switch")
	return t
}

// validate refuses a negative count.
func (c *conf) validate() error {
	if c.Count < 0 {
		return fmt.Errorf("count: %d is negative", c.Count)
	}
	return nil
}

var plain = Command{Usage: "prog [-config FILE]"}

func load(t *testing.T, args ...string) (conf, error) {
	t.Helper()
	c, _, err := Load(plain, defaults(), (*conf).table, (*conf).validate, args, io.Discard)
	return c, err
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "prog.conf")
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64 // -1: an error
	}{
		{"0", 0},
		{"0KiB", 0},
		{"1", 1},
		{"16384", 16384},
		{"+5", 5},
		{"3K", 3 << 10},
		{"3k", 3 << 10},
		{"3KiB", 3 << 10},
		{" 7 KiB", 7 << 10},
		{"4 MiB", 4 << 20},
		{"3M", 3 << 20},
		{"3MiB", 3 << 20},
		{"2G", 2 << 30},
		{"2GiB", 2 << 30},
		{"1025GiB", 1025 << 30},
		{"1T", 1 << 40},
		{"1TiB", 1 << 40},
		{"1099511627777", 1<<40 + 1},
		// The maximum, 1 PiB, in each unit, and one more.
		{"1125899906842624", MaxSize},
		{"1125899906842625", -1},
		{"1099511627776KiB", MaxSize},
		{"1099511627777KiB", -1},
		{"1073741824MiB", MaxSize},
		{"1073741825MiB", -1},
		{"1048576GiB", MaxSize},
		{"1048577GiB", -1},
		{"1024TiB", MaxSize},
		{"1025TiB", -1},
		{"99999999999999999999", -1},
		{"9223372036854775807K", -1},
		{"", -1},
		{"KiB", -1},
		{"-1", -1},
		{"-16KiB", -1},
		{"1.5MiB", -1},
		{"1 mib", -1},
		{"1m", -1},
		{"1PiB", -1},
		{"1 MB", -1},
		{"0x4000", -1},
	} {
		got, err := ParseSize(tt.in)
		switch {
		case tt.want < 0 && err == nil:
			t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
		case tt.want >= 0 && (err != nil || got != tt.want):
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// TestValues: each kind of value reads its text and prints it back, from
// the file and from the flags alike.
func TestValues(t *testing.T) {
	file := writeFile(t, "name = from file\ncount = 7\nsize = 2M\nsmall = 16KiB\nwait = 90s\nkind = b\non = true\n")
	want := conf{Name: "from file", Count: 7, Size: 2 << 20, Small: 16 << 10, Wait: 90 * time.Second, Kind: "b", Items: []string{"*.rpm"}, On: true}
	fromFile, err := load(t, "-config", file)
	if err != nil {
		t.Fatal(err)
	}
	fromFlags, err := load(t, "-name", "from file", "-count", "7", "-size", "2M", "-small", "16KiB", "-wait", "90s", "-kind", "b", "-on")
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []conf{fromFile, fromFlags} {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	tab := want.table()
	for name, text := range map[string]string{
		"name": "from file", "count": "7", "size": "2097152", "small": "16384", "wait": "1m30s", "kind": "b", "items": "*.rpm", "other": "", "on": "true",
	} {
		if got := tab.Lookup(name).Value.String(); got != text {
			t.Errorf("%s prints %q, want %q", name, got, text)
		}
	}
	if tab.Lookup("config") != nil || tab.Lookup("nothing") != nil {
		t.Error("Lookup finds a setting the table does not have")
	}
	if got, want := tab.Names(), []string{"config", "name", "count", "size", "small", "wait", "kind", "items", "other", "on"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
}

// TestPrecedence: the file overrides the defaults, the flags override
// the file wherever they stand against -config.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "# comment\n\n  count=5  \n\t# indented comment\nwait   =   1m\n")
	for _, args := range [][]string{
		{"-config", file, "-wait", "2s"},
		{"-wait", "2s", "-config", file},
	} {
		c, err := load(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		if c.Count != 5 || c.Wait != 2*time.Second || c.Name != "n" {
			t.Errorf("%q: count %d wait %v name %q; want the file's count, the flag's wait, the default name", args, c.Count, c.Wait, c.Name)
		}
	}
	// Validation checks the result, not the file alone.
	bad := writeFile(t, "count = -1\n")
	if c, err := load(t, "-config", bad, "-count", "1"); err != nil || c.Count != 1 {
		t.Errorf("a file's bad count overridden by a flag: count %d, %v", c.Count, err)
	}
}

// TestBool: a boolean reads true and false in every form strconv.ParseBool
// takes, from the file and as flags; a flag alone is true, and -name=false
// overrides the file's true.
func TestBool(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want bool
	}{
		{"default", nil, false},
		{"flag alone", []string{"-on"}, true},
		{"flag true", []string{"-on=true"}, true},
		{"flag 1", []string{"-on=1"}, true},
		{"file true", []string{"-config", writeFile(t, "on = true\n")}, true},
		{"file TRUE", []string{"-config", writeFile(t, "on = TRUE\n")}, true},
		{"file 0", []string{"-config", writeFile(t, "on = 0\n")}, false},
		{"file false", []string{"-config", writeFile(t, "on = false\n")}, false},
		{"flag false over file true", []string{"-config", writeFile(t, "on = true\n"), "-on=false"}, false},
		{"flag false before -config", []string{"-on=false", "-config", writeFile(t, "on = true\n")}, false},
		{"flag true over file false", []string{"-on", "-config", writeFile(t, "on = false\n")}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.On != tt.want {
				t.Errorf("%q: on = %v, want %v", tt.args, c.On, tt.want)
			}
		})
	}
	// A flag alone does not take the next argument as its value.
	c, args, err := Load(Command{Usage: "prog", Args: true}, defaults(), (*conf).table, (*conf).validate, []string{"-on", "false"}, io.Discard)
	if err != nil || !c.On || !slices.Equal(args, []string{"false"}) {
		t.Errorf("-on false: on = %v, args %q, %v; want true and the argument false", c.On, args, err)
	}
}

// TestRepeatable is the rule of the package doc: each source that gives a
// repeatable key replaces the list it found, and appends within itself.
func TestRepeatable(t *testing.T) {
	file := writeFile(t, "items = a\nother = x\nitems = b\n")
	for _, tt := range []struct {
		name         string
		args         []string
		items, other []string
	}{
		{"defaults", nil, []string{"*.rpm"}, nil},
		{"the file replaces the default", []string{"-config", file}, []string{"a", "b"}, []string{"x"}},
		{"flags replace the default", []string{"-items", "c", "-items", "d"}, []string{"c", "d"}, nil},
		{"flags replace the file's list", []string{"-config", file, "-items", "c", "-items", "d"}, []string{"c", "d"}, []string{"x"}},
		{"flags before -config too", []string{"-other", "y", "-config", file}, []string{"a", "b"}, []string{"y"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Items, tt.items) || !slices.Equal(c.Other, tt.other) {
				t.Errorf("items %q other %q, want %q %q", c.Items, c.Other, tt.items, tt.other)
			}
		})
	}
	// The default list is not changed in place.
	d := defaults()
	c, _, err := Load(plain, d, (*conf).table, (*conf).validate, []string{"-items", "z"}, io.Discard)
	if err != nil || !slices.Equal(d.Items, []string{"*.rpm"}) || !slices.Equal(c.Items, []string{"z"}) {
		t.Errorf("default %q, loaded %q (%v)", d.Items, c.Items, err)
	}
}

// TestErrors: a wrong file line names the file and the line; a wrong flag
// names the flag.
func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"unknown key", "count = 1\ncolour = red\n", nil, `:2: unknown setting "colour"`},
		{"config is no key", "config = other.conf\n", nil, `:1: unknown setting "config"`},
		{"line without =", "# x\n\ncount 1\n", nil, `:3: want key = value, got "count 1"`},
		{"bad number", "count = many\n", nil, `:1: count: strconv.Atoi: parsing "many"`},
		{"bad size", "size = 1 MB\n", nil, `:1: size: "1 MB" is not a size in bytes`},
		{"size too large", "size = 1025TiB\n", nil, `:1: size: "1025TiB" is not a size in bytes`},
		{"bad duration", "wait = soon\n", nil, `:1: wait: time: invalid duration "soon"`},
		{"bad func value", "kind = c\n", nil, `:1: kind: "c" is not a or b`},
		{"bad boolean", "on = yes\n", nil, `:1: on: "yes" is not true or false`},
		{"empty boolean", "on =\n", nil, `:1: on: "" is not true or false`},
		{"bad boolean flag", "", []string{"-on=maybe"}, `invalid boolean value "maybe" for -on: "maybe" is not true or false`},
		{"bad flag value", "", []string{"-size", "lots"}, `invalid value "lots" for flag -size: "lots" is not a size in bytes`},
		{"unknown flag", "", []string{"-colour", "red"}, "flag provided but not defined: -colour"},
		{"argument", "", []string{"extra"}, `unexpected argument "extra"`},
		{"validation", "", []string{"-count", "-1"}, "count: -1 is negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			want := tt.want
			if tt.file != "" {
				name := writeFile(t, tt.file)
				args = []string{"-config", name}
				want = "config " + name + want
			}
			_, err := load(t, args...)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %v, want one starting with %q", err, want)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing.conf")
	if _, err := load(t, "-config", missing); !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("-config missing: %v, want a config error wrapping %v", err, os.ErrNotExist)
	}
}

func TestOwnFlagsAndArgs(t *testing.T) {
	file := writeFile(t, "count = 5\n")
	var maxAge time.Duration
	var dryRun bool
	cmd := Command{
		Usage: "prog gc [flags]",
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&maxAge, "max-age", time.Hour, "age")
			fs.BoolVar(&dryRun, "dry-run", false, "only print")
		},
		Args: true,
	}
	c, args, err := Load(cmd, defaults(), (*conf).table, (*conf).validate, []string{"-config", file, "-max-age", "48h", "-dry-run", "-name", "x", "a", "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if maxAge != 48*time.Hour || !dryRun || c.Count != 5 || c.Name != "x" || !slices.Equal(args, []string{"a", "b"}) {
		t.Errorf("max-age %v dry-run %v count %d name %q args %q", maxAge, dryRun, c.Count, c.Name, args)
	}
}

func TestHelp(t *testing.T) {
	for _, tt := range []struct {
		name string
		cmd  Command
		want []string
		not  []string
	}{
		{"plain", plain,
			[]string{"Usage: prog [-config FILE]\n\nSettings (flags override -config):\n  -config string\n"},
			[]string{"Flags:"}},
		{"with doc, own flags and heading", Command{
			Usage:   "prog warm PATTERN...",
			Doc:     "Hashes ahead of time.\n",
			Flags:   func(fs *flag.FlagSet) { fs.Int("j", 4, "files at once") },
			Heading: "Settings (as for prog):",
		}, []string{"Usage: prog warm PATTERN...\n\nHashes ahead of time.\n\nFlags:\n  -j int\n", "(default 4)", "\nSettings (as for prog):\n  -config string\n"},
			[]string{"Settings (flags override"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, _, err := Load(tt.cmd, defaults(), (*conf).table, (*conf).validate, []string{"-h"}, &out)
			if !errors.Is(err, ErrHelp) {
				t.Fatalf("-h: %v, want ErrHelp", err)
			}
			text := out.String()
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("-h text lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(text, w) {
					t.Errorf("-h text has %q:\n%s", w, text)
				}
			}
			// Every setting, with its default unless it is empty: "0" is
			// shown.
			for _, w := range []string{
				"  -name value\n    \ta name (default n)\n",
				"  -count value\n    \thow many (default 3)\n",
				"  -size value\n    \tbytes (default 1048576)\n",
				"  -small value\n    \tbytes, as an int (default 0)\n",
				"  -wait value\n    \thow long (default 1s)\n",
				"  -items value\n    \tpatterns (repeatable) (default *.rpm)\n",
				"  -other value\n    \tmore (repeatable)\n",
				"  -on\n    \ta switch (default false)\n",
			} {
				if !strings.Contains(text, w) {
					t.Errorf("-h text lacks %q:\n%s", w, text)
				}
			}
		})
	}
}
