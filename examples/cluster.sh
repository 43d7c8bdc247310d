#!/usr/bin/env bash
# Redis, PostgreSQL and two Parley processes on this machine: the topology of several
# machines behind a load balancer, in one place. Any process may take any client; no
# sticky sessions. Ctrl-C (or SIGTERM) stops everything. Needs Debian's redis-server
# and postgresql (15); `deno` on PATH, or DENO=/path/to/deno.
#
#   bash examples/cluster.sh            # http://127.0.0.1:8001 and http://127.0.0.1:8002
#   PORTS="8001 8002 8003" bash examples/cluster.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${PARLEY_CLUSTER_DIR:-$(mktemp -d -t parley-cluster-XXXX)}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
redis_port=${REDIS_PORT:-6390}
pg_port=${PG_PORT:-5440}
ports=${PORTS:-"8001 8002"}
deno=${DENO:-deno}
pids=()

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  echo "stopped; data kept in $work"
}
trap stop INT TERM EXIT

mkdir -p "$work"
[ "$(id -u)" -eq 0 ] && chown postgres "$work"

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" --logfile "$work/redis.log" &
pids+=($!)

if [ ! -d "$work/pg" ]; then
  as_pg "$pg_bin/initdb" -D "$work/pg" -U parley -A trust >/dev/null
fi
as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null

store="postgres://parley@127.0.0.1:$pg_port/postgres"
bus="redis://127.0.0.1:$redis_port"
n=0
for port in $ports; do
  n=$((n + 1))
  "$deno" run -A --v8-flags=--max-semi-space-size=4 "$root/server.ts" --port "$port" \
    --hostname 127.0.0.1 --store "$store" --bus "$bus" --data "$work/node$n" &
  pids+=($!)
  sleep 1 # the first runs the migrations; the others find them done
done
echo "Parley on $(for p in $ports; do printf 'http://127.0.0.1:%s ' "$p"; done)(store $store, bus $bus)"
wait -n "${pids[@]}"
