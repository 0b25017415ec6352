#!/usr/bin/env bash
# The whole streamstate test suite: go vet, staticcheck, and every test with the race
# detector (those too slow under it run without it afterwards; every skip is listed with its
# reason), with a MinIO server for the s3:// tests (scripts/minio.sh). It installs the tools
# it needs (pinned) into a per-machine cache, once.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
TOOLS="${STREAMSTATE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/streamstate/tools}"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/staticcheck-$STATICCHECK_VERSION" ]; then
	echo "installing staticcheck $STATICCHECK_VERSION into $TOOLS"
	GOBIN="$TOOLS" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
	mv "$TOOLS/staticcheck" "$TOOLS/staticcheck-$STATICCHECK_VERSION"
fi

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
"$TOOLS/staticcheck-$STATICCHECK_VERSION" ./...
echo "== minio"
# shellcheck source=scripts/minio.sh
source scripts/minio.sh
minio_install
minio_start # exports STREAMSTATE_S3_URL, STREAMSTATE_MINIO_BIN and AWS_*; stopped on exit
REPORT=$(mktemp -d "${TMPDIR:-/tmp}/streamstate-test.XXXXXX")
go build -o "$REPORT/testreport" ./internal/cmd/testreport
status=0
echo "== go test -race"
go test -race -json -timeout 30m "$@" ./... | "$REPORT/testreport" -save "$REPORT/race.json" || status=1
# Tests too slow under the race detector skip themselves with a reason saying "under -race";
# they run here without it, so CI runs every test.
echo "== tests that skip under -race, without it"
"$REPORT/testreport" -race-skipped "$REPORT/race.json" >"$REPORT/norace.txt"
n=0
while read -r pkg pattern; do
	n=$((n + 1))
	echo "$pkg -run '$pattern'"
	go test -json -timeout 30m -run "$pattern" "$@" "$pkg" | "$REPORT/testreport" -save "$REPORT/norace-$n.json" || status=1
done <"$REPORT/norace.txt"
echo "== summary"
"$REPORT/testreport" -summary "$REPORT"/*.json || status=1
rm -rf "$REPORT"
exit "$status"
