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
admin="tcp://$host:$((base_port + 3))"
# The coordinator's HTTP listener: /metrics, /healthz, /readyz, /api/status and the dashboard.
http="$host:$((base_port + 4))"
# The cluster port uses mutual TLS unless THERMOSHARD_TLS=0: a throwaway CA and certificates
# in $run/certs (cluster/certs, made on first use), the coordinator's naming $host.
tls="${THERMOSHARD_TLS:-1}"
use_run_certs() {  # the cluster address and the TLS flags for $run's certificates (again after run changes)
  certs="$run/certs"
  if [ "$tls" = 0 ]; then
    cluster_url="tcp://$host:$((base_port + 2))"
    coordinator_tls=()
    worker_tls=()
  else
    cluster_url="tls+tcp://$host:$((base_port + 2))"
    coordinator_tls=(--tls-cert "$certs/coordinator.pem" --tls-key "$certs/coordinator.key" --tls-ca "$certs/ca.pem")
    worker_tls=(--tls-cert "$certs/worker.pem" --tls-key "$certs/worker.key" --tls-ca "$certs/ca.pem")
  fi
}
use_run_certs
mkdir -p "$run/pids" "$run/logs"

ensure_certs() {  # the run directory's certificates, made once (THERMOSHARD_TLS=0: none)
  [ "$tls" = 0 ] && return 0
  [ -f "$certs/worker.pem" ] && [ -f "$certs/coordinator.pem" ] && return 0
  "$repo/cluster/certs" "$certs" --san "$host" >/dev/null
}

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
  ensure_certs
  start coordinator coordinator --data "$run/data" --ingest "$ingest" --publish "$publish" \
    --cluster "$cluster_url" --admin "$admin" --http "$http" "${coordinator_tls[@]}" "$@"
  wait_until "the coordinator answers" "$bin" status --admin "$admin" --json
}

start_worker() {  # start_worker NAME
  start "$1" worker --coordinator "$cluster_url" --id "$1" "${worker_tls[@]}"
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

# ---------------------------------------------------------------------------------------------
# Used by cluster/up, scale, kill, status and down (cluster/README.md). Everything above is
# unchanged and still what cluster/demo uses.

die() { echo "${script_name:-cluster}: $*" >&2; exit 1; }
misuse() { echo "${script_name:-cluster}: $*" >&2; echo "see: $script_name --help" >&2; exit 2; }

prepare_run_dir() {  # an absolute run directory, so that pid files mean the same from any directory
  run="$(cd "$run" && pwd)"
}

ensure_binary() {  # THERMOSHARD_BIN as given, or build .build/release/thermoshard (lib's `build`)
  if [ -n "${THERMOSHARD_BIN:-}" ]; then
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then die "THERMOSHARD_BIN=$bin is not an executable file"; fi
  else
    build
    [ -x "$bin" ] || die "no binary at $bin after building"
  fi
}

pid_of() {  # pid_of NAME: the pid in NAME's pid file (fails when there is none)
  local pid
  [ -f "$run/pids/$1" ] || return 1
  pid="$(cat "$run/pids/$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  echo "$pid"
}

pid_alive() {  # pid_alive PID: the process exists and is not a zombie
  local state
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null || true)"
    [ "$state" != Z ] && [ "$state" != X ]
  fi
}

is_running() {  # is_running NAME: NAME's pid file names a live process that is still that NAME
  local name="$1" pid cmd
  pid="$(pid_of "$name")" || return 1
  pid_alive "$pid" || return 1
  [ -r "/proc/$pid/cmdline" ] || return 0     # no /proc: trust the pid
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  case "$name" in                             # a recycled pid belongs to some other program
    coordinator) [[ "$cmd" == *" coordinator "* ]] ;;
    worker-*) [[ "$cmd" == *" worker "* && "$cmd" == *" --id $name "* ]] ;;
    simulator) [[ "$cmd" == *" simulate "* ]] ;;
    *) true ;;
  esac
}

clean_stale() {  # removes pid files whose process is gone (or whose pid now is another program)
  local file name
  for file in "$run"/pids/*; do
    [ -e "$file" ] || continue
    name="$(basename "$file")"
    if ! is_running "$name"; then
      echo "removing stale pid file $name (no live $name with pid $(cat "$file" 2>/dev/null || echo "?"))" >&2
      rm -f "$file"
    fi
  done
}

live_workers() {  # the workers with live processes, by number
  local name
  for name in $(workers); do is_running "$name" && echo "$name"; done
  return 0
}

start_detached() {  # start_detached NAME ARGS...: like `start`, in a session of its own (no
  # terminal signals, survives the terminal); setsid execs in place, so $! is the process's pid
  local name="$1"; shift
  if command -v setsid >/dev/null 2>&1; then
    setsid "$bin" "$@" >>"$run/logs/$name.log" 2>&1 </dev/null &
  else
    "$bin" "$@" >>"$run/logs/$name.log" 2>&1 </dev/null &
  fi
  echo $! >"$run/pids/$name"
}

start_new_worker() {  # start_new_worker NAME
  ensure_certs
  start_detached "$1" worker --coordinator "$cluster_url" --id "$1" "${worker_tls[@]}"
}

port_busy() {  # port_busy PORT: something accepts connections on $host:PORT
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$1" 2>/dev/null
}

wait_exit() {  # wait_exit PID SECONDS: wait (polling, bounded) until PID has exited
  local deadline=$((SECONDS + $2))
  while pid_alive "$1"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.02
  done
}

log_tail() {  # log_tail NAME [LINES]: the end of NAME's log, indented, on stderr
  if [ -f "$run/logs/$1.log" ]; then tail -n "${2:-5}" "$run/logs/$1.log" | sed 's/^/    /' >&2; fi
}

await_cluster() {  # await_cluster WHAT MODE [ARGS...]: polls the status JSON every 20 ms until
  # the condition holds, for up to THERMOSHARD_WAIT seconds (default 30); fails early if the
  # coordinator exits. With KILL_PID set it first SIGKILLs that pid (so that the time measured
  # excludes Python's start) and prints the ms from the SIGKILL to the first status that holds.
  # MODE: answers | balanced NAME... (exactly these workers, every partition owned, counts
  # differ by at most one) | idle (no worker, nothing owned) | owned-without NAME (NAME gone,
  # every partition owned by someone else).
  local what="$1"; shift
  python3 - "$bin" "$admin" "${THERMOSHARD_WAIT:-30}" "$(pid_of coordinator || true)" \
    "$run/logs/coordinator.log" "${KILL_PID:-}" "$what" "$@" <<'PY'
import json, os, signal, subprocess, sys, time
binary, admin, timeout, coordinator, log, victim, what, mode, *names = sys.argv[1:]
if victim:
    os.kill(int(victim), signal.SIGKILL)
    killed = time.monotonic()
deadline = time.monotonic() + float(timeout)

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(int(pid), 0)
            return True
        except OSError:
            return False

def holds(s):
    workers = sorted(w["id"] for w in s["workers"])
    parts = s["partitions"]
    if mode == "answers":
        return True
    if mode == "idle":
        return not workers and all(p["owner"] is None for p in parts)
    if mode == "owned-without":
        return names[0] not in workers and all(p["owner"] not in (None, names[0]) for p in parts)
    if mode == "balanced":
        if workers != sorted(names) or any(p["owner"] is None or p["state"] != "owned" for p in parts):
            return False
        counts = [sum(1 for p in parts if p["owner"] == w) for w in workers]
        return sum(counts) == len(parts) and max(counts) - min(counts) <= 1
    sys.exit(f"await_cluster: unknown mode {mode}")

def summary(s):
    if s is None:
        return "no answer"
    owners = ", ".join(f"{w['id']}:{sum(1 for p in s['partitions'] if p['owner'] == w['id'])}" for w in s["workers"])
    states = {}
    for p in s["partitions"]:
        states[p["state"]] = states.get(p["state"], 0) + 1
    return f"workers [{owners}], partitions {states}"

last = None
while True:
    if coordinator and not alive(coordinator):
        sys.exit(f"the coordinator (pid {coordinator}) has exited while waiting until {what}; see {log}")
    try:
        out = subprocess.run([binary, "status", "--admin", admin, "--json"], capture_output=True,
                             timeout=max(0.5, min(6.0, deadline - time.monotonic())))
        if out.returncode == 0:
            last = json.loads(out.stdout)
            if holds(last):
                if victim:
                    print(round(1000 * (time.monotonic() - killed)))
                sys.exit(0)
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        pass
    if time.monotonic() >= deadline:
        sys.exit(f"timed out after {timeout} s waiting until {what}; last status: {summary(last)}")
    time.sleep(0.02)
PY
}
