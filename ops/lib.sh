# shellcheck shell=bash
# Helpers shared by the ops/ scripts. Source it; do not run it.
#
# Every script logs with a `[name]` prefix to stderr so CI logs show which step spoke.

OPS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$OPS_DIR/.." && pwd)"
OPS_STATE_ROOT="${FLAMESTREAM_OPS_STATE:-$REPO_ROOT/.ops-state}"

log() { printf '[%s] %s\n' "${OPS_LOG_NAME:-ops}" "$*" >&2; }
die() {
    printf '[%s] error: %s\n' "${OPS_LOG_NAME:-ops}" "$*" >&2
    exit 1
}

# Seconds since the epoch with a fraction, for step timings.
now() { date +%s.%N; }
# elapsed START -> "12.3s"
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

# Server launches close fd 9: ops/test.sh holds its lock on it, and a server that inherited it
# would keep the lock after the test run ends.

# Creates the state root with a .gitignore so nothing in it is ever committed.
ensure_state_root() {
    mkdir -p "$OPS_STATE_ROOT"
    [[ -f "$OPS_STATE_ROOT/.gitignore" ]] || printf '*\n' >"$OPS_STATE_ROOT/.gitignore"
}

# pid_alive PIDFILE -> 0 when the file names a running process.
pid_alive() {
    local pidfile="$1" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null
}

# port_in_use PORT -> 0 when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# stop_pid NAME PIDFILE [GRACE_SECS]: SIGTERM, wait up to GRACE_SECS (default 10), then SIGKILL.
stop_pid() {
    local name="$1" pidfile="$2" grace="${3:-10}" pid i
    if ! pid_alive "$pidfile"; then
        log "$name is not running"
        rm -f "$pidfile"
        return 0
    fi
    pid="$(cat "$pidfile")"
    log "stopping $name (pid $pid): SIGTERM, up to ${grace}s"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) still running after ${grace}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$pidfile"
    log "$name stopped"
}

# show_log_tail FILE [LINES]: prints the end of a server log for a failure message.
show_log_tail() {
    local file="$1" lines="${2:-40}"
    if [[ -s "$file" ]]; then
        printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2
        printf -- '----- end of %s -----\n' "$file" >&2
    else
        printf -- '(%s is empty or missing)\n' "$file" >&2
    fi
}

# wait_ready NAME PIDFILE TIMEOUT_SECS WHERE READY_CMD LOG...: after a server was launched in the
# background with its pid in PIDFILE, runs READY_CMD until it succeeds. When the process exits or
# TIMEOUT_SECS pass first, prints the end of each LOG, stops what is left and dies, naming WHERE
# (the address that did not answer).
wait_ready() {
    local name="$1" pidfile="$2" timeout="$3" where="$4" ready="$5" f
    shift 5
    local deadline=$((SECONDS + timeout))
    until "$ready"; do
        if ! pid_alive "$pidfile"; then
            for f in "$@"; do show_log_tail "$f" 40; done
            rm -f "$pidfile"
            die "$name exited during start (logs above)"
        fi
        if ((SECONDS >= deadline)); then
            for f in "$@"; do show_log_tail "$f" 40; done
            stop_pid "$name" "$pidfile" 5
            die "$name did not answer on $where within ${timeout}s (logs above)"
        fi
        sleep 0.1
    done
}

# server_status PIDFILE WHERE READY_CMD DETAIL_CMD: the `status` command of a server script.
# Exit 0 and "running (pid) at WHERE, DETAIL" when it answers, 1 when its pid lives but
# READY_CMD fails, 3 when it is not running.
server_status() {
    local pidfile="$1" where="$2" ready="$3" detail="$4"
    if pid_alive "$pidfile" && "$ready"; then
        log "running (pid $(cat "$pidfile")) at $where, $("$detail")"
        return 0
    elif pid_alive "$pidfile"; then
        log "pid $(cat "$pidfile") alive but $where does not answer"
        return 1
    fi
    log "not running"
    return 3
}

# apt_missing PKG...: prints those of the Debian packages that are not installed.
apt_missing() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' ||
            printf '%s\n' "$pkg"
    done
}

# apt_install PKG...: installs the missing ones (as root, or through sudo); `apt-get update` at
# most once per script run.
APT_UPDATED=0
apt_install() {
    local -a missing sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    mapfile -t missing < <(apt_missing "$@")
    if ((${#missing[@]} == 0)); then
        log "apt: already installed: $*"
        return 0
    fi
    local t0
    t0="$(now)"
    if ((APT_UPDATED == 0)); then
        log "apt: apt-get update"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
    log "apt: done in $(elapsed "$t0")"
}

# pip_install SPEC...: installs Python packages for python3, quietly (also as root).
pip_install() {
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@"
}

# server_command USAGE COMMAND: the command line of a server script, which defines cmd_start,
# cmd_stop, cmd_status, print_env and $STATE (its state directory). start|stop|restart|status|
# reset (stop, then delete $STATE)|env|url; anything else prints "usage: SCRIPT USAGE" and exits 2.
server_command() {
    local usage="$1"
    case "${2:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart)
        cmd_stop
        cmd_start
        ;;
    status) cmd_status ;;
    reset)
        cmd_stop
        log "deleting $STATE"
        rm -rf "$STATE"
        ;;
    url | env) print_env ;;
    *)
        echo "usage: $0 $usage" >&2
        exit 2
        ;;
    esac
}
