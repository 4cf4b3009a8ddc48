package main

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestSlug(t *testing.T) {
	for text, want := range map[string]string{
		"Quick start": "quick-start",
		"Starting a pipeline over: `stats-processor reset`": "starting-a-pipeline-over-stats-processor-reset",
		"`GET /` and `GET /stats/stream` (stats-processor)": "get--and-get-statsstream-stats-processor",
		"Latency from a window's end to its records":        "latency-from-a-windows-end-to-its-records",
		"vehicle-producer (`PRODUCER_`)":                    "vehicle-producer-producer_",
		"See [the design](design.md) too":                   "see-the-design-too",
	} {
		if got := Slug(text); got != want {
			t.Errorf("Slug(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	fsys := fstest.MapFS{
		"README.md": {Data: []byte(strings.Join([]string{
			"# Title",
			"[ok](docs/a.md) [ok anchor](docs/a.md#second-part) [self](#title) [image](docs/img/x.png)",
			"[missing file](docs/none.md)",
			"[missing anchor](docs/a.md#nowhere)",
			"[outside](../shared/CONTRACT.md) [web](https://example.org/x) [dir](docs/)",
			"`[in a code span](docs/none.md)`",
			"```",
			"[in a fence](docs/none.md)",
			"```",
			"[ref]: docs/gone.md",
			"[untracked](docs/untracked.md)",
		}, "\n"))},
		"docs/a.md":         {Data: []byte("# A\n## Second part\n## Twice\n## Twice\n[back](../README.md#title) [dup](#twice-1) [html](#kept)\n<a name=\"kept\"></a>\n")},
		"docs/img/x.png":    {Data: []byte{}},
		"docs/untracked.md": {Data: []byte("# U\n")},
	}
	tracked := map[string]bool{"README.md": true, "docs/a.md": true, "docs/img/x.png": true}
	problems, err := Check(Repo{FS: fsys, Tracked: tracked}, []string{"README.md", "docs/a.md"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"README.md:3: docs/none.md: docs/none.md is not in the repository (git ls-files does not list it)",
		"README.md:4: docs/a.md#nowhere: docs/a.md has no heading with the anchor #nowhere",
		"README.md:5: ../shared/CONTRACT.md: points outside the repository, so a clone does not have it",
		"README.md:10: docs/gone.md: docs/gone.md is not in the repository (git ls-files does not list it)",
		"README.md:11: docs/untracked.md: docs/untracked.md is not in the repository (git ls-files does not list it)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
