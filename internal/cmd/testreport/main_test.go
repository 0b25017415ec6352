package main

import (
	"bytes"
	"strings"
	"testing"
)

// events of a package whose test TestB panicked: no fail event for the test, only the package's.
const panicked = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"panic: boom\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}
{"Action":"fail","Package":"p"}
`

func TestLivePrintsTheOutputOfATestThatNeverEnded(t *testing.T) {
	var out bytes.Buffer
	err := live(strings.NewReader(panicked), &out, "")
	if err == nil {
		t.Fatal("a failed package reported no error")
	}
	if !strings.Contains(out.String(), "TestB (did not finish)") || !strings.Contains(out.String(), "panic: boom") {
		t.Fatalf("the panic is not in the report:\n%s", out.String())
	}
	if strings.Contains(out.String(), "TestA (did not finish)") {
		t.Fatalf("a passed test is reported as unfinished:\n%s", out.String())
	}
}

func TestSkipReasonAndRaceRerun(t *testing.T) {
	const skipped = `{"Action":"run","Package":"p","Test":"TestSlow"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"    x_test.go:9: skipped under -race; run without -race\n"}
{"Action":"output","Package":"p","Test":"TestSlow","Output":"--- SKIP: TestSlow (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestSlow"}
{"Action":"skip","Package":"p"}
`
	f := t.TempDir() + "/race.json"
	if err := live(strings.NewReader(skipped), &bytes.Buffer{}, f); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := printRaceSkipped(&out, []string{f}); err != nil || out.String() != "p ^(TestSlow)$\n" {
		t.Fatalf("rerun list = %q, %v", out.String(), err)
	}
	out.Reset()
	if err := printSummary(&out, []string{f}); err != nil ||
		!strings.Contains(out.String(), "p TestSlow: x_test.go:9: skipped under -race; run without -race") ||
		!strings.Contains(out.String(), "tests: 0 passed, 0 failed, 1 skipped") {
		t.Fatalf("summary = %q, %v", out.String(), err)
	}
}
