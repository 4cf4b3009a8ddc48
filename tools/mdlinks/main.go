// Command mdlinks fails when a relative link or #anchor in a tracked
// Markdown file does not resolve in a clone of the repository: the file
// it names is not tracked, it points outside the repository, or the
// Markdown file it names has no heading with that anchor (GitHub's
// anchors). Absolute URLs are left alone: it needs no network. `make lint`
// runs it from the repository's root:
//
//	go run ./tools/mdlinks
//
// It exits 1 and prints file:line, the link and the reason for each broken
// link, 2 when git cannot list the files.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdlinks: git ls-files:", err, "(run it from the repository's root)")
		os.Exit(2)
	}
	tracked := map[string]bool{}
	var files []string
	for _, f := range bytes.Split(out, []byte{0}) {
		name := string(f)
		if name == "" {
			continue
		}
		tracked[name] = true
		if strings.HasSuffix(name, ".md") {
			files = append(files, name)
		}
	}
	problems, err := Check(Repo{FS: os.DirFS("."), Tracked: tracked}, files)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdlinks:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Printf("%d broken links in %d Markdown files: fix the path or the anchor (an anchor is the heading in lower case, spaces as '-', punctuation dropped)\n", len(problems), len(files))
		os.Exit(1)
	}
}
