// Command mksample writes the sample mirror that `make run` serves.
//
//	mksample DIR
package main

import (
	"fmt"
	"os"

	"github.com/pkgtorrent/pkgtorrent-service/pkg/samplemirror"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mksample DIR")
		os.Exit(2)
	}
	if err := samplemirror.Create(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mksample:", err)
		os.Exit(1)
	}
}
