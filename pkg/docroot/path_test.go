package docroot

import (
	"errors"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"relative path", "yum/el9/x.rpm", "yum/el9/x.rpm", nil},
		{"one leading slash dropped", "/yum/el9/x.rpm", "yum/el9/x.rpm", nil},
		{"single segment", "x", "x", nil},
		{"glob kept as is", "/yum/*/x86_64/[a-c]*.rpm", "yum/*/x86_64/[a-c]*.rpm", nil},
		{"dots inside names", "yum/..x/x..y/...", "yum/..x/x..y/...", nil},
		{"hidden file", "yum/.hidden", "yum/.hidden", nil},
		{"plus and tilde", "/yum/libstdc++-1.0~rc1.rpm", "yum/libstdc++-1.0~rc1.rpm", nil},
		{"spaces kept", "yum/a b.rpm", "yum/a b.rpm", nil},
		{"exactly the longest", strings.Repeat("a", MaxPathLength), strings.Repeat("a", MaxPathLength), nil},

		{"empty", "", "", ErrInvalid},
		{"only a slash", "/", "", ErrInvalid},
		{"two leading slashes", "//yum/x", "", ErrInvalid},
		{"empty segment", "yum//x", "", ErrInvalid},
		{"trailing slash", "yum/x/", "", ErrInvalid},
		{"dot segment", "yum/./x", "", ErrInvalid},
		{"leading dot segment", "./yum/x", "", ErrInvalid},
		{"only a dot", ".", "", ErrInvalid},
		{"NUL byte", "yum/x\x00.rpm", "", ErrInvalid},
		{"NUL with dot-dot", "../\x00", "", ErrInvalid},
		{"one byte too long", strings.Repeat("a", MaxPathLength+1), "", ErrInvalid},
		{"too long with slash", "/" + strings.Repeat("a", MaxPathLength), "", ErrInvalid},

		{"dot-dot segment", "yum/../etc/passwd", "", ErrOutside},
		{"leading dot-dot", "../etc/passwd", "", ErrOutside},
		{"leading slash dot-dot", "/../etc/passwd", "", ErrOutside},
		{"trailing dot-dot", "yum/..", "", ErrOutside},
		{"only dot-dot", "..", "", ErrOutside},
		{"backslash", `yum\x.rpm`, "", ErrOutside},
		{"backslash dot-dot", `yum/..\..\etc\passwd`, "", ErrOutside},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Clean(tt.in)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Clean(%.40q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Clean(%.40q) = %.40q, want %.40q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTopFolder(t *testing.T) {
	tests := []struct {
		rel        string
		top        string
		wantInside bool
	}{
		{"yum/el9/x.rpm", "yum", true},
		{"yum/x", "yum", true},
		{"x.iso", "x.iso", false},
	}
	for _, tt := range tests {
		top, inside := TopFolder(tt.rel)
		if top != tt.top || inside != tt.wantInside {
			t.Errorf("TopFolder(%q) = %q, %v; want %q, %v", tt.rel, top, inside, tt.top, tt.wantInside)
		}
	}
}
