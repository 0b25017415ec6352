// Command testreport reads `go test -json` output and reports it the way CI needs it: failures
// with their output, one line per package, and every skipped test with its reason, so that no
// test skips silently. scripts/test.sh runs it; it is nobody's API.
//
//	go test -race -json ./... | testreport -save race.json    # live: packages, failures
//	testreport -summary race.json norace.json                 # totals and every skip
//	testreport -race-skipped race.json                        # "pkg regexp" per line: what to rerun without -race
//
// A test whose skip reason contains "under -race" is one that the script runs again without
// the race detector (see scripts/test.sh).
//
// It imports only the standard library.
package main
