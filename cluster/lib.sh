# Shared by the cluster/ scripts: one run directory holds every process's pid and log.
# THERMOSHARD_RUN (default: <repo>/run) is that directory; THERMOSHARD_BIN the binary.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run="${THERMOSHARD_RUN:-$repo/run}"
bin="${THERMOSHARD_BIN:-$repo/.build/release/thermoshard}"
base_port="${THERMOSHARD_BASE_PORT:-7600}"
host="${THERMOSHARD_HOST:-127.0.0.1}"
ingest="tcp://$host:$base_port"
publish="tcp://$host:$((base_port + 1))"
cluster_url="tcp://$host:$((base_port + 2))"
admin="tcp://$host:$((base_port + 3))"
mkdir -p "$run/pids" "$run/logs"

build() {
  "$repo/cluster/setup"
  if [ -z "${THERMOSHARD_BIN:-}" ]; then
    echo "building thermoshard (release)"
    (cd "$repo" && swift build -c release 2>&1 | tail -n 1)
  fi
}

alive() { [ -f "$run/pids/$1" ] && kill -0 "$(cat "$run/pids/$1")" 2>/dev/null; }

start() {  # start NAME ARGS...: a background process with its pid and log in the run directory
  local name="$1"; shift
  "$bin" "$@" >>"$run/logs/$name.log" 2>&1 &
  echo $! >"$run/pids/$name"
}

start_coordinator() {
  alive coordinator && return 0
  start coordinator coordinator --data "$run/data" --ingest "$ingest" --publish "$publish" \
    --cluster "$cluster_url" --admin "$admin" "$@"
  wait_until "the coordinator answers" "$bin" status --admin "$admin" --json
}

start_worker() {  # start_worker NAME
  start "$1" worker --coordinator "$cluster_url" --id "$1"
}

workers() { ls "$run/pids" 2>/dev/null | grep '^worker-' | sort -t- -k2 -n || true; }

next_worker_name() {
  local n=1
  while [ -e "$run/pids/worker-$n" ]; do n=$((n + 1)); done
  echo "worker-$n"
}

status_json() { "$bin" status --admin "$admin" --json; }

wait_until() {  # wait_until DESCRIPTION COMMAND...: retry for up to 30 s
  local what="$1"; shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting until $what" >&2
  return 1
}

stop() {  # stop NAME [SIGNAL]: signal a process and wait for it to exit
  local name="$1" signal="${2:-TERM}" pid
  [ -f "$run/pids/$name" ] || return 0
  pid="$(cat "$run/pids/$name")"
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$run/pids/$name"
}

stop_all() {
  for name in simulator $(workers); do stop "$name" TERM; done
  stop coordinator TERM
}
