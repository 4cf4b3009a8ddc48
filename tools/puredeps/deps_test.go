package main

import (
	"strings"
	"testing"
)

// The pure core of this repository links nothing outside the standard
// library, pkg/model and internal/validate.
func TestPureCore(t *testing.T) {
	bad, err := Check("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("%s", b)
	}
}

// A package that links the loader is reported, naming the dependency.
func TestReportsAnImpurePackage(t *testing.T) {
	bad, err := check("../..", []string{"./internal/config"}, Allowed)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || !strings.HasPrefix(bad[0], Module+"/internal/config: ") || !strings.Contains(bad[0], "github.com/spf13/viper,") {
		t.Errorf("got %q", bad)
	}
}
