package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"unicode"
)

// Problem is one broken link: where it is and why it does not resolve.
type Problem struct {
	File   string // the Markdown file, slash-separated, relative to the root
	Line   int
	Target string // the link as written
	Reason string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Target, p.Reason)
}

// Repo is what the links are checked against: the files a clone has.
type Repo struct {
	FS      fs.FS           // the working tree, to read Markdown files
	Tracked map[string]bool // slash-separated paths of the tracked files
}

var (
	// inlineLink matches [text](target) and ![alt](target), with an
	// optional "title" after the target.
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// refDefinition matches a reference definition: [label]: target.
	refDefinition = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s+<?([^\s>]+)>?`)
	// htmlAnchor matches an anchor set in HTML: <a name="x"> or id="x".
	htmlAnchor = regexp.MustCompile(`(?:name|id)="([^"]+)"`)
	// codeSpan matches an inline code span, whose text is not a link.
	codeSpan = regexp.MustCompile("`+[^`]*`+")
	// hasScheme tells an absolute URL (https:, mailto:) from a path.
	hasScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// link is one relative link found in a file.
type link struct {
	line   int
	target string
}

// Check reads each Markdown file and reports every relative link whose
// file is not tracked, or whose #anchor names no heading of the Markdown
// file it points to. Absolute URLs are not checked (no network).
func Check(repo Repo, files []string) ([]Problem, error) {
	anchors := map[string]map[string]bool{} // file -> its anchors, read once
	anchorsOf := func(file string) (map[string]bool, error) {
		if a, ok := anchors[file]; ok {
			return a, nil
		}
		data, err := fs.ReadFile(repo.FS, file)
		if err != nil {
			return nil, err
		}
		a, _ := scan(data)
		anchors[file] = a
		return a, nil
	}
	var problems []Problem
	for _, file := range files {
		data, err := fs.ReadFile(repo.FS, file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		own, links := scan(data)
		anchors[file] = own
		for _, l := range links {
			reason, err := resolve(repo, file, l.target, anchorsOf)
			if err != nil {
				return nil, err
			}
			if reason != "" {
				problems = append(problems, Problem{File: file, Line: l.line, Target: l.target, Reason: reason})
			}
		}
	}
	return problems, nil
}

// resolve says why target, written in file, does not resolve ("" when it
// does).
func resolve(repo Repo, file, target string, anchorsOf func(string) (map[string]bool, error)) (string, error) {
	if hasScheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return "", nil
	}
	if strings.HasPrefix(target, "/") {
		return "a link from the root of a site; write it relative to " + file, nil
	}
	p, anchor, _ := strings.Cut(target, "#")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	dest := file
	if p != "" {
		dest = path.Clean(path.Join(path.Dir(file), p))
		if dest == ".." || strings.HasPrefix(dest, "../") {
			return "points outside the repository, so a clone does not have it", nil
		}
		if !repo.Tracked[dest] && !isTrackedDir(repo.Tracked, dest) {
			return dest + " is not in the repository (git ls-files does not list it)", nil
		}
	}
	if anchor == "" || !strings.HasSuffix(dest, ".md") {
		return "", nil
	}
	a, err := anchorsOf(dest)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dest, err)
	}
	if !a[strings.ToLower(anchor)] {
		return fmt.Sprintf("%s has no heading with the anchor #%s", dest, anchor), nil
	}
	return "", nil
}

func isTrackedDir(tracked map[string]bool, dir string) bool {
	if dir == "." {
		return true
	}
	for f := range tracked {
		if strings.HasPrefix(f, dir+"/") {
			return true
		}
	}
	return false
}

// scan returns a Markdown file's anchors (GitHub's, from its headings, and
// those set in HTML) and its relative links, leaving out fenced code
// blocks and code spans.
func scan(data []byte) (anchors map[string]bool, links []link) {
	anchors = map[string]bool{}
	seen := map[string]int{}
	fence := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[strings.ToLower(m[1])] = true
		}
		if text, ok := heading(trimmed); ok {
			slug := Slug(text)
			if k := seen[slug]; k > 0 {
				anchors[fmt.Sprintf("%s-%d", slug, k)] = true
			} else {
				anchors[slug] = true
			}
			seen[slug]++
		}
		code := codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(code, -1) {
			links = append(links, link{line: n, target: m[1]})
		}
		if m := refDefinition.FindStringSubmatch(code); m != nil {
			links = append(links, link{line: n, target: m[1]})
		}
	}
	return anchors, links
}

// heading returns the text of an ATX heading line ("## Text").
func heading(line string) (string, bool) {
	level := 0
	for level < len(line) && line[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || (level < len(line) && line[level] != ' ') {
		return "", false
	}
	return strings.TrimRight(strings.TrimSpace(line[level:]), "#"), true
}

// markup matches what GitHub drops from a heading's text before it makes
// the anchor: the target of a link (its text stays) and emphasis marks.
var markup = regexp.MustCompile(`\]\([^)]*\)`)

// Slug is GitHub's anchor for a heading's text: lower case; letters,
// digits, '-' and '_' kept, spaces turned into '-', everything else
// dropped (so "`GET /stats` (x)" becomes "get-stats-x").
func Slug(text string) string {
	text = markup.ReplaceAllString(text, "")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
