#!/usr/bin/env bash
# A MinIO server for the tests, built from the Go module proxy (pinned) into the per-machine
# tools cache once, started on 127.0.0.1 on a free port with its data under a temporary
# directory.
#
# Sourced (scripts/test.sh does this):
#   source scripts/minio.sh
#   minio_install          # sets MINIO_BIN (builds it once per machine: a few minutes)
#   minio_start            # starts it; exports STREAMSTATE_MINIO_BIN, STREAMSTATE_S3_URL and
#                          # the AWS_* variables the tests use; installs a trap that stops it
#   minio_stop             # stops it and removes its data (the trap does this on exit)
#
# Run directly:
#   scripts/minio.sh install            # build it, print the binary's path
#   scripts/minio.sh run -- CMD ARGS    # run CMD with a server started for it, then stop it
#                                       # e.g. scripts/minio.sh run -- go test ./checkpoint/

# A pseudo-version of github.com/minio/minio (MinIO tags releases RELEASE.<date>, which the
# module proxy does not serve as semantic versions); this one builds with Go 1.26.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_TOOLS="${STREAMSTATE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/streamstate/tools}"
MINIO_BUCKET=streamstate-test

minio_install() {
	MINIO_BIN="$MINIO_TOOLS/minio-$MINIO_VERSION"
	if [ -x "$MINIO_BIN" ]; then
		return 0
	fi
	mkdir -p "$MINIO_TOOLS"
	echo "installing minio $MINIO_VERSION into $MINIO_TOOLS (once per machine; takes a few minutes)" >&2
	local gobin
	gobin=$(mktemp -d "$MINIO_TOOLS/minio-build.XXXXXX")
	if ! GOBIN="$gobin" go install "github.com/minio/minio@$MINIO_VERSION" >&2; then
		rm -rf "$gobin"
		echo "minio.sh: could not build github.com/minio/minio@$MINIO_VERSION; check GOPROXY and the Go version" >&2
		return 1
	fi
	mv "$gobin/minio" "$MINIO_BIN"
	rm -rf "$gobin"
}

# minio_http_ok PORT PATH: whether GET PATH answers 200.
minio_http_ok() {
	local line
	{
		exec 9<>"/dev/tcp/127.0.0.1/$1" || return 1
		printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1" >&9
		IFS= read -r -t 2 line <&9 || line=""
		exec 9>&-
	} 2>/dev/null
	[[ "$line" == "HTTP/1.1 200"* ]]
}

# minio_port_free PORT: nothing listens on it.
minio_port_free() {
	! { exec 8<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { exec 8>&-; return 1; }
}

minio_start() {
	[ -n "${MINIO_BIN:-}" ] || minio_install || return 1
	MINIO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/streamstate-minio.XXXXXX")
	trap minio_stop EXIT
	# Test credentials only: the server listens on 127.0.0.1 and lives as long as the tests.
	export AWS_ACCESS_KEY_ID="streamstate-test"
	export AWS_SECRET_ACCESS_KEY="streamstate-test-$RANDOM$RANDOM"
	export AWS_REGION=us-east-1
	export AWS_EC2_METADATA_DISABLED=true
	local try port
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		minio_port_free "$port" || continue
		MINIO_ROOT_USER="$AWS_ACCESS_KEY_ID" MINIO_ROOT_PASSWORD="$AWS_SECRET_ACCESS_KEY" \
			MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
			"$MINIO_BIN" server --quiet --address "127.0.0.1:$port" "$MINIO_DIR/data" \
			>"$MINIO_DIR/log" 2>&1 &
		MINIO_PID=$!
		local i
		for i in $(seq 1 150); do
			if ! kill -0 "$MINIO_PID" 2>/dev/null; then
				break # exited: the port was taken after all, or a real failure (see the log)
			fi
			if minio_http_ok "$port" /minio/health/live; then
				export STREAMSTATE_MINIO_BIN="$MINIO_BIN"
				export STREAMSTATE_S3_URL="s3://$MINIO_BUCKET?endpoint=http://127.0.0.1:$port&use_path_style=true&region=$AWS_REGION"
				echo "minio $MINIO_VERSION (pid $MINIO_PID) on 127.0.0.1:$port, data in $MINIO_DIR" >&2
				return 0
			fi
			sleep 0.1
		done
		kill "$MINIO_PID" 2>/dev/null || true
		wait "$MINIO_PID" 2>/dev/null || true
		MINIO_PID=
	done
	echo "minio.sh: MinIO did not start; its log:" >&2
	cat "$MINIO_DIR/log" >&2
	return 1
}

minio_stop() {
	if [ -n "${MINIO_PID:-}" ]; then
		kill "$MINIO_PID" 2>/dev/null || true
		wait "$MINIO_PID" 2>/dev/null || true
		MINIO_PID=
	fi
	if [ -n "${MINIO_DIR:-}" ]; then
		rm -rf "$MINIO_DIR"
		MINIO_DIR=
	fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
	case "${1:-}" in
	install)
		minio_install
		echo "$MINIO_BIN"
		;;
	run)
		shift
		[ "${1:-}" = "--" ] && shift
		minio_start
		set +e
		"$@"
		rc=$?
		minio_stop
		exit $rc
		;;
	*)
		echo "usage: $0 install | run -- CMD [ARGS...]" >&2
		exit 2
		;;
	esac
fi
