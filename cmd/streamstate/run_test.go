package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRunServesMetrics runs the fraud job with --metrics-addr and scrapes it while it runs:
// the source's throughput, the checkpoint statistics and Pebble's own metrics are there.
func TestRunServesMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	t.Chdir(dir)
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"run", "fraud", "--events", "40000", "--rate", "10000", "--interval", "200ms",
			"--progress", "0", "--metrics-addr", addr}, io.Discard, io.Discard)
	}()
	want := []string{"streamstate_source_records_total", `streamstate_checkpoints_total{kind="checkpoint",result="completed"}`,
		"streamstate_last_checkpoint_duration_seconds", "streamstate_pebble_block_cache_bytes", "go_goroutines"}
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("the job ended before its metrics showed everything (%v); last scrape:\n%s", err, body)
		default:
		}
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			missing := false
			for _, w := range want {
				if !strings.Contains(body, w) {
					missing = true
				}
			}
			if !missing {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("output/fraud"); err != nil {
		t.Error(err)
	}
}
