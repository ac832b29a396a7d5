package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSinkDropsTornLineAndReportsLast(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(p, []byte("3\n5\n1"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, last, err := openSink(p)
	if err != nil {
		t.Fatal(err)
	}
	if last != 5 {
		t.Fatalf("last = %d", last)
	}
	if _, err := f.WriteString("6\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := os.ReadFile(p)
	if string(b) != "3\n5\n6\n" {
		t.Fatalf("sink = %q", b)
	}
}

func TestStateIsReplacedAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	if v, err := readState(p); err != nil || v != 0 {
		t.Fatalf("missing state: %d %v", v, err)
	}
	for _, s := range []uint64{7, 12} {
		if err := writeState(p, s); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := readState(p); err != nil || v != 12 {
		t.Fatalf("state: %d %v", v, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestParseSeverity(t *testing.T) {
	if s, err := parseSeverity("high"); err != nil || s.String() != "SEVERITY_HIGH" {
		t.Fatalf("%v %v", s, err)
	}
	if _, err := parseSeverity("bad"); err == nil {
		t.Fatal("bad severity accepted")
	}
}
