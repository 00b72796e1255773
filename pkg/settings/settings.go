// Package settings reads a program's settings: its defaults, then a file
// of "key = value" lines named by -config, then the command-line flags,
// then the program's validation. Both products' settings (pkg/config for
// the service, the agent's internal/settings) are built on it.
//
// A program lists its settings once, as a Table: each Setting is a name,
// which is both a key of the file and a flag, a usage line for -h, and a
// flag.Value bound to a field of the program's configuration. The file
// and the flags go through the same Value.Set, so that a value reads the
// same in both.
//
// The file: each line is "key = value"; spaces around the "=" and at
// either end are ignored; blank lines and lines starting with "#" are
// skipped. An unknown key, a line without "=", or a value its Set refuses
// is an error that names the file and the line ("config FILE:LINE: ...").
// config is a flag only, not a key of the file.
//
// Precedence: the defaults, then the file, then the flags; a flag given
// before -config still overrides the file.
//
// Repeatable settings (List) follow one rule: each source that gives a
// repeatable key, the file and then the flags, replaces the list it
// found; within that source, the first occurrence replaces the list and
// the next ones append. So a file's lines replace the default list, and
// flags replace the file's list.
//
// Sizes (Size) are a decimal number of bytes, optionally followed by a
// suffix for a power of 1024: K (or k) or KiB, M or MiB, G or GiB, T or
// TiB, spaces allowed before the suffix; from 0 to MaxSize.
//
// Booleans (Bool) are true or false in the file; a flag alone (-name)
// means true, and false is written -name=false.
package settings

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Setting is one setting of a program: a key of the file and a flag of
// the same name.
type Setting struct {
	// Name is the file key and the flag name.
	Name string
	// Usage is the one-line description -h prints.
	Usage string
	// Value parses and prints the setting, bound to a field of the
	// program's configuration (String, Int, Bool, Size, Duration, List,
	// Func).
	Value flag.Value
}

// Table is the list of a program's settings, in the order -h prints them.
type Table []Setting

// Add appends the setting name, with its value and usage, to t.
func (t *Table) Add(name string, v flag.Value, usage string) {
	*t = append(*t, Setting{Name: name, Usage: usage, Value: v})
}

// Lookup returns the setting called name, or nil.
func (t Table) Lookup(name string) *Setting {
	for i := range t {
		if t[i].Name == name {
			return &t[i]
		}
	}
	return nil
}

// Names returns "config", then the name of every setting in t.
func (t Table) Names() []string {
	names := make([]string, 0, len(t)+1)
	names = append(names, "config")
	for _, s := range t {
		names = append(names, s.Name)
	}
	return names
}

// ReadFile applies the "key = value" lines of the file name, through each
// setting's Set, as one source of repeatable settings. Errors name the
// file and the line.
func (t Table) ReadFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	t.newSource()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("config %s:%d: want key = value, got %q", name, n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		s := t.Lookup(key)
		if s == nil {
			return fmt.Errorf("config %s:%d: unknown setting %q", name, n, key)
		}
		if err := s.Value.Set(val); err != nil {
			return fmt.Errorf("config %s:%d: %s: %w", name, n, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
}

// newSource starts a new source of values (the file, or the flags) for
// the repeatable settings of t: the next Set of each replaces its list.
func (t Table) newSource() {
	for _, s := range t {
		if l, ok := s.Value.(*list); ok {
			l.given = false
		}
	}
}

// ErrHelp is returned by Load when -h or -help was given.
var ErrHelp = flag.ErrHelp

// Command describes a program, or a subcommand, that takes the settings.
type Command struct {
	// Usage is the first line of the -h text, after "Usage: ".
	Usage string
	// Doc, when set, is printed under the usage line.
	Doc string
	// Flags registers the command's own flags, besides the settings.
	Flags func(fs *flag.FlagSet)
	// Args reports whether the command takes arguments after the flags;
	// without it, any argument is an error.
	Args bool
	// Heading is the line above the settings in the -h text; empty means
	// "Settings (flags override -config):".
	Heading string
}

// Load builds a configuration from def, the file named by -config (if
// any) and the flags in args, which also hold cmd's own flags, then
// checks it with validate. bind returns the table of the settings of the
// configuration it is given. Load returns the configuration and the
// arguments left after the flags. -h writes cmd's usage, its own flags,
// then the settings, to usage, and returns ErrHelp. Other errors are one
// line.
func Load[C any](cmd Command, def C, bind func(*C) Table, validate func(*C) error, args []string, usage io.Writer) (C, []string, error) {
	c := def
	t := bind(&c)
	fs := flag.NewFlagSet("settings", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// own holds the command's flags and sfs the settings, apart, for the
	// -h text; fs parses them all. Registering them copies each flag's
	// default text before anything is parsed.
	own := flag.NewFlagSet("own", flag.ContinueOnError)
	if cmd.Flags != nil {
		cmd.Flags(own)
	}
	sfs := flag.NewFlagSet("settings", flag.ContinueOnError)
	configFile := sfs.String("config", "", "read settings from this file (key = value lines, # comments)")
	for _, s := range t {
		sfs.Var(s.Value, s.Name, s.Usage)
	}
	for _, set := range []*flag.FlagSet{own, sfs} {
		set.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	}
	// First pass: find -config and check the flags' syntax.
	t.newSource()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(usage, cmd, own, sfs)
		}
		return c, nil, err
	}
	if fs.NArg() > 0 && !cmd.Args {
		return c, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *configFile != "" {
		// The file sits between the defaults and the flags: apply it to
		// the defaults, then the flags again. The values of t point into
		// c, so they follow.
		c = def
		if err := t.ReadFile(*configFile); err != nil {
			return c, nil, err
		}
		t.newSource()
		if err := fs.Parse(args); err != nil {
			return c, nil, err
		}
	}
	return c, fs.Args(), validate(&c)
}

// PrintUsage writes the -h text of cmd without settings: its usage line,
// its doc, then the flags of own, if any.
func PrintUsage(w io.Writer, cmd Command, own *flag.FlagSet) {
	fmt.Fprintln(w, "Usage: "+cmd.Usage)
	if cmd.Doc != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, strings.TrimRight(cmd.Doc, "\n"))
	}
	hasOwn := false
	own.VisitAll(func(*flag.Flag) { hasOwn = true })
	if hasOwn {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags:")
		own.SetOutput(w)
		own.PrintDefaults()
	}
}

// printUsage is PrintUsage, then the settings under cmd's heading.
func printUsage(w io.Writer, cmd Command, own, sfs *flag.FlagSet) {
	PrintUsage(w, cmd, own)
	heading := cmd.Heading
	if heading == "" {
		heading = "Settings (flags override -config):"
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, heading)
	sfs.SetOutput(w)
	sfs.PrintDefaults()
}
