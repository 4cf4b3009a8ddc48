// Command puredeps fails when a package of the pure core depends on
// anything but the standard library, pkg/model and internal/validate (and
// the pure packages themselves): the event-time logic, the event generator
// and pkg/... stay plain Go that a reader, a test or an outside tool can
// use without linking viper, Kafka or Redis. `make lint` runs it from the
// repository's root:
//
//	go run ./tools/puredeps
//
// It exits 1 and prints each pure package with the dependencies it must
// not have, 2 when go list fails.
package main

import (
	"fmt"
	"os"
)

func main() {
	bad, err := Check(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "puredeps:", err, "(run it from the repository's root)")
		os.Exit(2)
	}
	for _, b := range bad {
		fmt.Println(b)
	}
	if len(bad) > 0 {
		fmt.Println("puredeps: the pure core must import only the standard library, pkg/model and internal/validate; move the I/O or the loader to the service's edge")
		os.Exit(1)
	}
}
