// Package miniotest gives tests a real MinIO server: the one scripts/test.sh starts for the
// whole run (URL), or a server of the test's own that it can stop and start again (Start), for
// tests of real faults.
//
// The environment, set by scripts/test.sh (scripts/minio.sh):
//
//	STREAMSTATE_S3_URL      s3://bucket?endpoint=http://127.0.0.1:PORT&use_path_style=true&region=...
//	STREAMSTATE_MINIO_BIN   the MinIO binary, for Start
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the credentials of both
//
// Without them a test that needs MinIO is skipped with a message that says how to run it, so
// `go test ./...` passes on a machine without MinIO; scripts/test.sh always sets them.
//
// It imports the AWS SDK (to create the test bucket) and nothing of the module; only tests
// import it.
package miniotest
