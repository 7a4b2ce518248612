package gradstat

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/FORMATS-section.md")

// TestMarkdown keeps testdata/FORMATS-section.md (the text merged into
// docs/FORMATS.md) in step with the column definitions, and checks that
// every table's columns are documented.
func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, tb := range Tables {
		for _, c := range ColumnsOf(tb) {
			if c.Doc == "" {
				t.Errorf("%s.%s has no doc", tb, c.Name)
			}
		}
		if !strings.Contains(b.String(), "### `-table "+tb+"`") {
			t.Errorf("no section for %s", tb)
		}
	}
	path := filepath.Join("testdata", "FORMATS-section.md")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(path, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("%s is stale: run go test -update", path)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "FORMATS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, b.Bytes()) {
		t.Errorf("docs/FORMATS.md does not contain %s verbatim: paste it over the gradstat tables section", path)
	}
}
