#!/bin/sh
# A throwaway PostgreSQL cluster for the tests: no system service, nothing outside DIR.
#   tests/pg.sh start DIR   initdb in DIR, start on 127.0.0.1 and a free port; prints the URL
#                           of its database "spravka" (postgres://spravka@127.0.0.1:PORT/spravka)
#   tests/pg.sh stop DIR    stop the server and delete DIR
# As root (CI), the cluster belongs to the unprivileged user postgres (initdb refuses root);
# otherwise to the caller. fsync is off: the cluster dies with the test run (FSYNC=on keeps
# PostgreSQL's durable defaults, for benchmarks).
set -eu
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
	echo "usage: tests/pg.sh start|stop DIR" >&2
	exit 2
}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || {
	echo "pg.sh: no PostgreSQL server binaries under /usr/lib/postgresql (scripts/install-deps test)" >&2
	exit 1
}
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
case "$cmd" in
start)
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
	chmod 700 "$dir"
	as_owner "$bin/initdb" -D "$dir/data" -U spravka --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		exit 1
	}
	# A free port: the kernel picks one, the server takes it a moment later.
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	[ "${FSYNC:-off}" = on ] && fast=""
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir $fast -c max_connections=300" \
		start >/dev/null || {
		cat "$dir/server.log" >&2
		exit 1
	}
	as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U spravka spravka
	echo "postgres://spravka@127.0.0.1:$port/spravka"
	;;
stop)
	[ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
*)
	echo "usage: tests/pg.sh start|stop DIR" >&2
	exit 2
	;;
esac
