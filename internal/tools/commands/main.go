// Command commands prints the toolkit's command names, one per line
// (layout.Commands): the Makefile links them to the multi-call binary and
// the image recipes take them from the links it made.
package main

import (
	"fmt"

	"github.com/bhojpur/os/internal/layout"
)

func main() {
	for _, c := range layout.Commands {
		fmt.Println(c)
	}
}
