package blobstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// TestRedactURL: RedactURL hides user information and secret parameters, keeps the rest.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"file:///var/lib/chk":                                  "file:///var/lib/chk",
		"my checkpoints/chk-3":                                 "my checkpoints/chk-3",
		"s3://bucket/p?region=eu-west-1&use_path_style=true":   "s3://bucket/p?region=eu-west-1&use_path_style=true",
		"s3://AKIA:pass@bucket/p?region=x":                     "s3://bucket/p?region=x",
		"s3://bucket/p?region=x&aws_secret_access_key=abc":     "s3://bucket/p?aws_secret_access_key=REDACTED&region=x",
		"s3://bucket/p?X-Amz-Signature=abc&Token=t&sessionId=": "s3://bucket/p?Token=REDACTED&X-Amz-Signature=REDACTED&sessionId=REDACTED",
		"s3://bucket/p?endpoint=http://u:pw@127.0.0.1:9000":    "s3://bucket/p?endpoint=http%3A%2F%2F127.0.0.1%3A9000",
		"s3://us%zzer:pass@bucket/x?password=hunter2":          "s3://REDACTED@bucket/x?REDACTED",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOpenURLRedactsSecrets opens storage URLs that hold credentials and fail to open: no
// error may quote a secret (gocloud's own error quotes the whole URL it was given).
func TestOpenURLRedactsSecrets(t *testing.T) {
	secrets := []string{"AKIAUSERINFO", "s3cr3tpass", "AKIAQUERY", "SuperSecret123", "minpass", "hunter2", "tok3n"}
	for _, u := range []string{
		"s3://AKIAUSERINFO:s3cr3tpass@bucket/prefix?region=us-east-1&access_key=AKIAQUERY&secret_key=SuperSecret123",
		"s3://bucket/prefix?region=us-east-1&endpoint=http://minio:minpass@127.0.0.1:1&no_such_param=1",
		"s3://AKIAUSERINFO:s3cr3tpass@bucket/prefix?region=us-east-1&session_token=tok3n&no_such_param=1",
		"s3://AKIA%zzUSERINFO:s3cr3tpass@bucket/x?password=hunter2",
		"gs://AKIAUSERINFO:s3cr3tpass@b/x?secret=SuperSecret123",
		"ftp://AKIAUSERINFO:s3cr3tpass@b/x",
		"file://AKIAUSERINFO:s3cr3tpass@/no/such/dir?secret=hunter2&no_such_param=1",
	} {
		st, err := OpenURL(context.Background(), u)
		if err == nil {
			st.Close()
			t.Errorf("OpenURL(%q) succeeded; want an error", u)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("OpenURL(%q): the error quotes the secret %q: %v", u, s, err)
			}
		}
	}
}

// TestScrubErrorKeepsChain: a scrubbed error still matches its sentinel.
func TestScrubErrorKeepsChain(t *testing.T) {
	err := scrubError(&snapshot.FileError{Path: "x", Err: snapshot.ErrMissing, Detail: "in s3://k:hunter2@b"}, urlSecrets("s3://k:hunter2@b"))
	if strings.Contains(err.Error(), "hunter2") || !errors.Is(err, snapshot.ErrMissing) {
		t.Fatalf("scrubbed: %v", err)
	}
}
