package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Environment variables read by this package.
const (
	EnvURL = "STREAMSTATE_S3_URL"
	EnvBin = "STREAMSTATE_MINIO_BIN"
)

const skipHint = "run ./scripts/test.sh, or `scripts/minio.sh run -- go test ./...`, which start MinIO and set it"

// URL returns an s3:// URL of the shared MinIO server with a key prefix of this test's own
// (so tests never see each other's objects), creating the bucket if needed. It skips the test
// if STREAMSTATE_S3_URL is not set.
func URL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(EnvURL)
	if raw == "" {
		t.Skipf("no MinIO server: %s is not set; %s", EnvURL, skipHint)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		t.Fatalf("%s=%q is not an s3://bucket?endpoint=... URL", EnvURL, raw)
	}
	q := u.Query()
	ensureBucket(t, q.Get("endpoint"), q.Get("region"), u.Host)
	u.Path = "/" + strings.Trim(strings.Trim(u.Path, "/")+"/"+UniquePrefix(t), "/")
	return u.String()
}

// UniquePrefix returns a key prefix made of the test's name and a random suffix.
func UniquePrefix(t testing.TB) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "-")
	return name + "-" + hex.EncodeToString(rnd[:])
}

var (
	bucketsMu sync.Mutex
	buckets   = map[string]bool{}
)

func ensureBucket(t testing.TB, endpoint, region, bucket string) {
	t.Helper()
	key := endpoint + " " + bucket
	bucketsMu.Lock()
	defer bucketsMu.Unlock()
	if buckets[key] {
		return
	}
	if err := CreateBucket(context.Background(), endpoint, region, bucket); err != nil {
		t.Fatal(err)
	}
	buckets[key] = true
}

// CreateBucket creates bucket on the S3 endpoint with the credentials of the AWS environment
// variables; a bucket that exists already is fine.
func CreateBucket(ctx context.Context, endpoint, region, bucket string) error {
	if region == "" {
		region = "us-east-1"
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return fmt.Errorf("create bucket %s at %s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (%s)", bucket, endpoint, skipHint)
	}
	c := s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
	})
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned interface{ ErrorCode() string }
	if errors.As(err, &owned) && (owned.ErrorCode() == "BucketAlreadyOwnedByYou" || owned.ErrorCode() == "BucketAlreadyExists") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create bucket %s at %s: %w", bucket, endpoint, err)
	}
	return nil
}

// Server is a MinIO process of one test, on 127.0.0.1 on a port of its own, with its data in
// a temporary directory of the test. Stop and Start keep the port and the data, as a real
// server restart does. Its methods are safe for concurrent use.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	user    string
	secret  string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

// Start starts a MinIO server of the test's own from STREAMSTATE_MINIO_BIN, with the
// credentials of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and stops it when the test
// ends. It skips the test if those are not set.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv(EnvBin)
	if bin == "" {
		t.Skipf("no MinIO binary: %s is not set; %s", EnvBin, skipHint)
	}
	user, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if user == "" || secret == "" {
		t.Skipf("no MinIO credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set; %s", skipHint)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), user: user, secret: secret}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop MinIO: %v", err)
		}
		if s.logFile != nil {
			_ = s.logFile.Close()
		}
	})
	var err error
	for try := 0; try < 5; try++ {
		if s.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		if err = s.Start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	if err := CreateBucket(context.Background(), s.Endpoint(), "us-east-1", "test"); err != nil {
		t.Fatal(err)
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Endpoint returns the server's http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

// URL returns an s3:// URL of the server's bucket "test" with the key prefix "prefix/" ("" for
// none).
func (s *Server) URL(prefix string) string {
	return fmt.Sprintf("s3://test/%s?endpoint=%s&use_path_style=true&region=us-east-1", prefix, url.QueryEscape(s.Endpoint()))
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Start starts the server (again) and waits until it answers its health check; starting a
// running server does nothing.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	if s.logFile == nil {
		f, err := os.Create(filepath.Join(s.dir, "minio.log"))
		if err != nil {
			return err
		}
		s.logFile = f
	}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", s.port), filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.user, "MINIO_ROOT_PASSWORD="+s.secret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = s.logFile, s.logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("MinIO exited at start; see %s", s.logFile.Name())
		default:
		}
		resp, err := client.Get(s.Endpoint() + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("MinIO on %s not ready after 30s; see %s", s.Endpoint(), s.logFile.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd, s.exited = cmd, exited
	return nil
}

// Stop stops the server (SIGKILL: no graceful shutdown, as a crash or a lost network) and
// waits for the process to end; stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	err := s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.exited = nil, nil
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}
