#!/usr/bin/env bash
# Throughput benchmark: two network namespaces joined by a veth pair, one tinc daemon in each
# (switch mode, TAP), iperf3 through the tunnel.
#
# Scenarios, all in one run with the same keys, configs, Cipher and Digest:
#   swift   tincd-swift <-> tincd-swift
#   c       C tincd     <-> C tincd
#   mixed   tincd-swift (A, iperf3 client/sender) <-> C tincd (B, iperf3 server/receiver)
#   cmixed  C tincd (A, sender) <-> tincd-swift (B, receiver)
#   veth    the bare veth, no daemon (ceiling of the namespace set-up)
# For each: iperf3 TCP, iperf3 UDP with 1300-byte datagrams, iperf3 UDP with 64-byte datagrams
# (both unthrottled by default), each REPEAT times (default 3) in a row, the median reported;
# UDP figures are what the server RECEIVED (delivered), plus loss.
# Two UDP measures per datagram size, both printed:
#   UDP @<=L%   the primary figure (RFC 2544 throughput with a loss allowance): the highest offered rate
#               (iperf3 -b) whose short probe lost at most BENCH_UDP_LOSS percent, found by a bounded
#               search that starts at the row's flood goodput (doubling while probes pass, then
#               bisecting), reported as what B received at that rate; median of REPEAT searches.
#   UDP flood   unthrottled (-b 0): what a saturated receiver still delivers, and its loss. On a
#               small shared box this mostly measures how a receiver behaves under overload.
# The vs-C<->C ratios, the crypto-ceiling lines and the issue 12 acceptance lines use the first.
# Also the CPU seconds each daemon used during each iperf3 run (/proc/PID/stat utime+stime), as
# CPU-seconds per GB moved in the TCP test, and the warm-up: seconds from the second daemon's
# start until both report a fixed PMTU for each other and a ping went through (UDP data path up).
#
# Environment:
#   CIPHER, DIGEST      tinc Cipher/Digest for both nodes (default aes-256-cbc / sha256)
#   DURATION            seconds per iperf3 run (default 10; 3 with QUICK=1)
#   QUICK=1             CI smoke: 3 s runs, shorter PMTU wait
#   UDP_RATE            iperf3 -b for the UDP 1300-byte run (default 0 = unlimited)
#   TAP_MTU             MTU of the TAP interfaces (default 1500, tinc's default)
#   SCENARIOS           subset/order, default "swift c mixed cmixed veth"
#   REPEAT              iperf3 runs per test and scenario, the median is reported (default 3; 1 with QUICK=1)
#   TCP_STREAMS         parallel iperf3 TCP streams (-P, default 1): one flow stays on one TAP queue and
#                       one TX worker, so several TX workers only help with several flows
#   DATAPLANE_THREADS   written as DataPlaneThreads = N into both tinc.conf (tincd-swift's TX workers;
#                       default unset = one per core); for an A/B of the TX workers in one sitting
#   BENCH_TAG           prefix of the namespaces and work directory (default tswb; pid appended)
#   TINCD_SWIFT_BIN     default <repo>/.build/release/tincd-swift
#   TINCD_C_BIN         default /usr/sbin/tincd
#   PMTU_DETECT         usr2 (default): from the second daemon's start, ping and SIGUSR2 both
#                       daemons every 0.2 s and read "pmtu N (min N max N)" from the node dump until
#                       min == max for both directions (at most PMTU_WAIT s, default 15; 10 with QUICK=1);
#                       sleep: just wait PMTU_WAIT s while pinging (no signals sent)
#   BENCH_UDP_SEARCH    1 (default): run the UDP rate search; 0: flood columns only (the @<=L% columns say "-")
#   BENCH_UDP_LOSS      loss allowance of the rate search, percent (default 1); the same for every row
#   BENCH_UDP_PROBE_S   seconds per search probe (default 2)
#   BENCH_UDP_PROBES    probes per search at most (default 6; 4 with QUICK=1); a search also stops once
#                       the passing and failing rates are within BENCH_UDP_RES (default 0.05 = 5 %)
#   BENCH_CEILING       1 (default): run bench/crypto.sh (openssl speed only, 1 s per figure) for the
#                       crypto-ceiling lines; 0: skip them
#   BENCH_THREADS=1     per thread of each daemon (name from /proc/PID/task/*/comm): CPU s and voluntary /
#                       involuntary context switches during each TCP and flood run, printed after the run
#                       (which thread spins, which wakes per frame)
#   KEEP=1              keep the work directory (configs, logs, iperf3 JSON); it is always kept
#                       when a scenario failed
# Needs root, iproute2, iperf3, jq, ping.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-3}; PMTU_WAIT=${PMTU_WAIT:-10}; REPEAT=${REPEAT:-1}; else DURATION=${DURATION:-10}; PMTU_WAIT=${PMTU_WAIT:-15}; REPEAT=${REPEAT:-3}; fi
CIPHER=${CIPHER:-aes-256-cbc}
DIGEST=${DIGEST:-sha256}
UDP_RATE=${UDP_RATE:-0}
TCP_STREAMS=${TCP_STREAMS:-1}
TAP_MTU=${TAP_MTU:-1500}
SCENARIOS=${SCENARIOS:-swift c mixed cmixed veth}
SWIFT_BIN=${TINCD_SWIFT_BIN:-$ROOT/.build/release/tincd-swift}
C_BIN=${TINCD_C_BIN:-/usr/sbin/tincd}
KEEP=${KEEP:-0}
UDP_SEARCH=${BENCH_UDP_SEARCH:-1}
UDP_LOSS=${BENCH_UDP_LOSS:-1}
UDP_PROBE_S=${BENCH_UDP_PROBE_S:-2}
if [ "$QUICK" = 1 ]; then UDP_PROBES=${BENCH_UDP_PROBES:-4}; else UDP_PROBES=${BENCH_UDP_PROBES:-6}; fi
UDP_RES=${BENCH_UDP_RES:-0.05}
CEILING=${BENCH_CEILING:-1}
PMTU_DETECT=${PMTU_DETECT:-usr2}

die() { echo "throughput.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in ip ss iperf3 jq ping timeout sha256sum; do command -v "$t" >/dev/null || die "missing tool: $t"; done
case " $SCENARIOS " in *" swift "*|*" mixed "*|*" cmixed "*) [ -x "$SWIFT_BIN" ] || die "no tincd-swift at $SWIFT_BIN (run: swift build -c release)";; esac
case " $SCENARIOS " in *" c "*|*" mixed "*|*" cmixed "*) [ -x "$C_BIN" ] || die "no C tincd at $C_BIN";; esac

TAG="${BENCH_TAG:-tswb}$$"
NS_A="${TAG}a"
NS_B="${TAG}b"
UNDER_A=10.201.0.1 UNDER_B=10.201.0.2   # veth (underlay)
OVER_A=10.202.0.1 OVER_B=10.202.0.2     # TAP (overlay)
WORK=$(mktemp -d "/tmp/${TAG}.XXXXXX")
CLK_TCK=$(getconf CLK_TCK)
STARTED_PIDS=()        # every pid this script started (daemons, iperf3 servers)
CREATED_NS=()          # every namespace this script created
FAILED=0

# ---------------------------------------------------------------- cleanup

stop_pid() {   # stop_pid PID: TERM, wait up to 5 s, then KILL; only if it is still one of ours
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    # Guard against pid reuse: our processes run tincd, tincd-swift or iperf3.
    case "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" in
        *tincd*|*iperf3*) ;;
        *) return 0 ;;
    esac
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid ns
    trap - EXIT INT TERM
    for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do stop_pid "$pid"; done
    for ns in "${CREATED_NS[@]+"${CREATED_NS[@]}"}"; do ip netns del "$ns" 2>/dev/null || true; done
    if [ "$KEEP" = 1 ] || [ "$FAILED" != 0 ] || [ "$rc" != 0 ]; then
        echo "work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The lead may rebuild .build/release while this runs: test a private copy of the binary.
if [ -x "$SWIFT_BIN" ]; then
    cp "$SWIFT_BIN" "$WORK/tincd-swift"
    SWIFT_ID="$(sha256sum "$SWIFT_BIN" | cut -c1-12), built $(date -r "$SWIFT_BIN" '+%F %T')"
    SWIFT_BIN="$WORK/tincd-swift"
fi
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)

# ---------------------------------------------------------------- namespaces

ip netns add "$NS_A"; CREATED_NS+=("$NS_A")
ip netns add "$NS_B"; CREATED_NS+=("$NS_B")
ip -n "$NS_A" link add eth0 type veth peer name eth0 netns "$NS_B"
ip -n "$NS_A" addr add "$UNDER_A/24" dev eth0
ip -n "$NS_B" addr add "$UNDER_B/24" dev eth0
for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done

# ---------------------------------------------------------------- configs and keys (once per run)

write_node() {   # write_node DIR NAME OVERLAY_IP UNDERLAY_IP [CONNECTTO]
    local dir=$1 name=$2 over=$3 under=$4 connect=${5:-}
    mkdir -p "$dir/hosts"
    {
        echo "Name = $name"
        echo "Mode = switch"
        echo "Interface = tswb0"
        echo "AddressFamily = ipv4"
        [ -z "$connect" ] || echo "ConnectTo = $connect"
        [ -z "${DATAPLANE_THREADS:-}" ] || echo "DataPlaneThreads = $DATAPLANE_THREADS"
    } >"$dir/tinc.conf"
    {
        echo "Address = $under"
        echo "Port = 655"
        echo "Cipher = $CIPHER"
        echo "Digest = $DIGEST"
    } >"$dir/hosts/$name"
    cat >"$dir/tinc-up" <<EOF
#!/bin/sh
ip link set dev "\$INTERFACE" mtu $TAP_MTU up
ip addr add $over/24 dev "\$INTERFACE"
EOF
    chmod 755 "$dir/tinc-up"
    # Keys with the C tincd (the same files are used by both implementations).
    "$C_BIN" -c "$dir" -K2048 </dev/null >"$WORK/keygen-$name.txt" 2>&1 \
        || { cat "$WORK/keygen-$name.txt" >&2; die "key generation for $name failed"; }
}

DIR_A="$WORK/alpha" DIR_B="$WORK/beta"
if [ "$SCENARIOS" != veth ]; then
    [ -x "$C_BIN" ] || die "key generation needs the C tincd at $C_BIN"
    write_node "$DIR_A" alpha "$OVER_A" "$UNDER_A" beta
    write_node "$DIR_B" beta "$OVER_B" "$UNDER_B"
    cp "$DIR_A/hosts/alpha" "$DIR_B/hosts/alpha"
    cp "$DIR_B/hosts/beta" "$DIR_A/hosts/beta"
fi

# ---------------------------------------------------------------- helpers

cpu_ticks() {   # utime+stime of PID in clock ticks (0 if gone)
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }   # fields after "(comm) "; utime/stime are fields 14/15 = 12/13 here
    awk '{print $12 + $13}' <<<"$stat"
}

# Bytes sent (acked) so far by the tinc meta (TCP port 655) connections in namespace NS. Frames
# larger than the node's PMTU (or sent before a UDP key exists) travel there as PACKET requests.
meta_bytes() {   # meta_bytes NS
    ip netns exec "$1" ss -tinH state established '( sport = :655 or dport = :655 )' 2>/dev/null \
        | grep -o 'bytes_acked:[0-9]*' | awk -F: '{s += $2} END {print s + 0}'
}

# thread_snap PID: one line per thread, "TID COMM TICKS VOLUNTARY INVOLUNTARY" (BENCH_THREADS=1)
thread_snap() {
    local t stat
    for t in /proc/"$1"/task/*; do
        stat=$(cat "$t/stat" 2>/dev/null) || continue
        printf '%s %s %s %s %s\n' "${t##*/}" "$(tr ' ' _ <"$t/comm" 2>/dev/null)" "$(awk '{print $12 + $13}' <<<"${stat##*) }")" \
            "$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status" 2>/dev/null)" \
            "$(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t/status" 2>/dev/null)"
    done
}

# thread_diff BEFORE AFTER LABEL: per-thread CPU s and context switches between two snapshots
thread_diff() {
    awk -v h="$CLK_TCK" -v label="$3" 'NR == FNR { c[$1] = $3; v[$1] = $4; n[$1] = $5; next }
        { printf "%s%s %.2fs vcs %d ivcs %d", (out++ ? "; " : "      " label " threads: "), $2, ($3 - c[$1]) / h, $4 - v[$1], $5 - n[$1] }
        END { if (out) print "" }' "$1" "$2"
}

# Datagrams the kernel dropped at B's tinc UDP socket (port 655) so far: its receive buffer was full,
# i.e. the daemon did not read fast enough (skmem "d" counter of `ss -m`).
sock_drops() {   # sock_drops NS
    ip netns exec "$1" ss -uamnH 'sport = :655' 2>/dev/null | grep -o ',d[0-9]*)' | tr -dc '0-9\n' | awk '{s += $1} END {print s + 0}'
}

ticks_to_s() { awk -v t="$1" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", t / h}'; }

start_daemon() {   # start_daemon NS BIN DIR LABEL -> sets DAEMON_PID
    local ns=$1 bin=$2 dir=$3 label=$4
    # `ip netns exec` execs the program, so $! is the daemon's own pid.
    ip netns exec "$ns" "$bin" -c "$dir" -D -d2 --logfile="$WORK/$label.log" --pidfile="$WORK/$label.pid" \
        >"$WORK/$label.out" 2>&1 &
    DAEMON_PID=$!
    STARTED_PIDS+=("$DAEMON_PID")
}

report_exit() {   # report_exit PID WHAT: if PID (our child) has exited, say how
    local st=0
    kill -0 "$1" 2>/dev/null && return 0
    wait "$1" 2>/dev/null || st=$?
    if [ "$st" -gt 128 ]; then
        echo "    daemon $2, pid $1, was killed by SIG$(kill -l $((st - 128)) 2>/dev/null || echo $((st - 128)))" >&2
    else
        echo "    daemon $2, pid $1, exited with status $st" >&2
    fi
}

# last SIGUSR2 node dump line about PEER in LOG: "... PEER at ... pmtu N (min N max N)"
pmtu_fixed() {   # pmtu_fixed LOG PEER -> 0 when min == max > 0
    local line min max
    line=$(grep -a " $2 at .* pmtu " "$1" 2>/dev/null | tail -n 1) || true
    [ -n "$line" ] || return 1
    min=$(sed -n 's/.*(min \([0-9]*\) max \([0-9]*\)).*/\1/p' <<<"$line")
    max=$(sed -n 's/.*(min \([0-9]*\) max \([0-9]*\)).*/\2/p' <<<"$line")
    [ -n "$min" ] && [ "$min" -gt 0 ] && [ "$min" = "$max" ]
}

pmtu_of() {   # pmtu_of LOG PEER -> "pmtu N (min N max N)" or "?"
    local line
    line=$(grep -a " $2 at .* pmtu " "$1" 2>/dev/null | tail -n 1) || true
    if [ -n "$line" ]; then sed -n 's/.*\(pmtu [0-9]* (min [0-9]* max [0-9]*)\).*/\1/p' <<<"$line"; else echo "?"; fi
}

now_s() { date +%s.%N; }

# Warm-up: from T0 (the second daemon started) ping A->B every 0.2 s and, once a ping went
# through, SIGUSR2 both daemons every 0.2 s until both report a fixed PMTU for each other (min == max; "Fixing
# MTU" itself is only logged at debug level 5, which would also log every packet), at most
# PMTU_WAIT s. Sets WARMUP_S; prints a one-line note (or the failure).
wait_tunnel() {   # wait_tunnel PID_A PID_B LABEL_A LABEL_B T0
    local pa=$1 pb=$2 la=$3 lb=$4 t0=$5 i ok="$WORK/$3.pingok"
    WARMUP_S="-"
    rm -f "$ok"
    if [ "$PMTU_DETECT" = sleep ]; then
        for i in $(seq "$PMTU_WAIT"); do
            sleep 1
            ip netns exec "$NS_A" ping -c 1 -W 1 -q "$OVER_B" >/dev/null 2>&1 || true
        done
        echo "waited ${PMTU_WAIT}s for PMTU discovery (PMTU_DETECT=sleep, not checked)"
        return 0
    fi
    for i in $(seq $((PMTU_WAIT * 5))); do
        kill -0 "$pa" 2>/dev/null && kill -0 "$pb" 2>/dev/null \
            || { echo "a daemon exited while waiting for the tunnel and PMTU discovery (PMTU_DETECT=sleep avoids signals)"; return 1; }
        { ip netns exec "$NS_A" ping -c 1 -W 1 -q "$OVER_B" >/dev/null 2>&1 && touch "$ok"; } &
        # Signals only once a ping went through: a daemon that has not installed its handler yet dies of it.
        [ ! -e "$ok" ] || kill -USR2 "$pa" "$pb" 2>/dev/null || true
        sleep 0.2   # also lets the dump reach the log
        if [ -e "$ok" ] && pmtu_fixed "$WORK/$la.log" beta && pmtu_fixed "$WORK/$lb.log" alpha; then
            WARMUP_S=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN{printf "%.1f", b - a}')
            wait
            echo "warm-up ${WARMUP_S}s (ping through, PMTU fixed): A->B $(pmtu_of "$WORK/$la.log" beta), B->A $(pmtu_of "$WORK/$lb.log" alpha)"
            return 0
        fi
    done
    wait
    [ -e "$ok" ] || { echo "no ping through the tunnel after ${PMTU_WAIT} s"; return 1; }
    kill -USR2 "$pa" "$pb" 2>/dev/null || true; sleep 0.3
    kill -0 "$pa" 2>/dev/null && kill -0 "$pb" 2>/dev/null || { echo "a daemon exited after SIGUSR2"; return 1; }
    WARMUP_S=">${PMTU_WAIT}"
    echo "PMTU NOT fixed after ${PMTU_WAIT}s: A->B $(pmtu_of "$WORK/$la.log" beta), B->A $(pmtu_of "$WORK/$lb.log" alpha)"
    return 0
}

median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{v[NR] = $1} END { if (NR == 0) print "FAIL"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_iperf NAME DEST ARGS... : iperf3 client in A -> server in B, JSON to $WORK/NAME.json, for
# IPERF_T seconds (default DURATION); sets CPU_A / CPU_B (seconds used by DAEMON_A/DAEMON_B during the run).
run_iperf() {
    local name=$1 dest=$2; shift 2
    local a0 b0 a1 b1 m0 m1 d0 rc=0 secs=${IPERF_T:-$DURATION}
    if [ "${BENCH_THREADS:-0}" = 1 ] && [ -n "${DAEMON_A:-}" ]; then
        thread_snap "$DAEMON_A" >"$WORK/$name.thrA0"; thread_snap "$DAEMON_B" >"$WORK/$name.thrB0"
    fi
    a0=$(cpu_ticks "${DAEMON_A:-0}"); b0=$(cpu_ticks "${DAEMON_B:-0}"); m0=$(meta_bytes "$NS_A"); d0=$(sock_drops "$NS_B")
    timeout $((secs + 25)) ip netns exec "$NS_A" iperf3 -c "$dest" -t "$secs" --connect-timeout 5000 -J "$@" \
        >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
    a1=$(cpu_ticks "${DAEMON_A:-0}"); b1=$(cpu_ticks "${DAEMON_B:-0}"); m1=$(meta_bytes "$NS_A")
    CPU_A=$(ticks_to_s $((a1 - a0))); CPU_B=$(ticks_to_s $((b1 - b0))); META_MB=$(( (m1 - m0) / 1000000 ))
    DROPS_B=$(( $(sock_drops "$NS_B") - d0 ))
    if [ -e "$WORK/$name.thrA0" ] && [ -z "${IPERF_T:-}" ]; then
        thread_snap "$DAEMON_A" >"$WORK/$name.thrA1"; thread_snap "$DAEMON_B" >"$WORK/$name.thrB1"
        { echo "    $name: A ${CPU_A}s, B ${CPU_B}s"
          thread_diff "$WORK/$name.thrA0" "$WORK/$name.thrA1" A
          thread_diff "$WORK/$name.thrB0" "$WORK/$name.thrB1" B; } | tee -a "$WORK/threads.txt" >&2
    fi
    if [ "$rc" != 0 ] || ! jq -e '.end.sum_received' "$WORK/$name.json" >/dev/null 2>&1; then
        local err
        err=$(jq -r '.error // empty' "$WORK/$name.json" 2>/dev/null || true)
        echo "    iperf3 $name failed (rc $rc${err:+: $err})" >&2
        return 1
    fi
}

jqf() { jq -r "$1" "$2" 2>/dev/null || echo "n/a"; }

fcalc() { awk "BEGIN{ printf \"%.1f\", $1 }"; }   # fcalc EXPR: float arithmetic, one decimal
fle() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a + 0 <= b + 0) }'; }   # fle A B: A <= B

drops_note() { [ "${DROPS_B:-0}" = 0 ] || echo "/d${DROPS_B}"; }   # "/dN": N dropped at B's tinc socket

# udp_search NAME DEST LEN START_MBIT: the rate search behind the UDP @<=L% columns. Probes of
# UDP_PROBE_S s at iperf3 -b RATE, each against a fresh one-off server; a probe passes when iperf3
# completed and B's loss was <= UDP_LOSS %. From START (the row's flood goodput): double while
# probes pass, bisect between the highest pass and the lowest failure once one failed; stop after
# UDP_PROBES probes or when the two are within UDP_RES of each other. Sets S_MBIT / S_KPPS (what B
# received in the highest passing probe; 0 if none passed), S_OPEN ("+" when no probe failed, so
# the figure is a lower bound) and S_TRACE ("offered:loss%" per probe, "x" marking failures).
udp_search() {
    local name=$1 dest=$2 len=$3 rate=$4 lo=0 hi="" n=0 srv f loss pass
    S_MBIT=0 S_KPPS=0 S_OPEN="" S_TRACE=""
    fle "$rate" 0 2>/dev/null && rate=10
    case $rate in ''|*[!0-9.]*) rate=10 ;; esac
    while [ "$n" -lt "$UDP_PROBES" ]; do
        n=$((n + 1))
        f="$name-p$n"
        ip netns exec "$NS_B" iperf3 -s -1 >/dev/null 2>&1 & srv=$!; STARTED_PIDS+=("$srv")
        sleep 0.3
        pass=0 loss=fail
        if IPERF_T=$UDP_PROBE_S run_iperf "$f" "$dest" -u -l "$len" -b "${rate}M" 2>/dev/null; then
            loss=$(jqf '.end.sum_received.lost_percent | . * 100 | round / 100' "$WORK/$f.json")
            if fle "$loss" "$UDP_LOSS"; then pass=1; fi
        fi
        stop_pid "$srv"
        if [ "$pass" = 1 ]; then
            S_TRACE+=" ${rate}:${loss}%$(drops_note)"
            lo=$rate
            S_MBIT=$(jqf '.end.sum_received.bits_per_second / 1e6 | . * 10 | round / 10' "$WORK/$f.json")
            S_KPPS=$(jqf '(.end.sum_received.packets - .end.sum_received.lost_packets) / .end.sum_received.seconds / 1000 | . * 10 | round / 10' "$WORK/$f.json")
            if [ -z "$hi" ]; then rate=$(fcalc "$rate * 2"); else rate=$(fcalc "($lo + $hi) / 2"); fi
        else
            S_TRACE+=" ${rate}:${loss}%$(drops_note)x"
            hi=$rate
            rate=$(fcalc "($lo + $hi) / 2")
        fi
        # Close enough: the next probe would be within UDP_RES of a rate already probed.
        if [ -n "$hi" ] && fle "$(fcalc "$hi - $lo")" "$(fcalc "$hi * $UDP_RES")"; then break; fi
        fle "$rate" 0.1 && break
    done
    [ -n "$hi" ] || S_OPEN="+"
    S_TRACE=${S_TRACE# }
}

# ---------------------------------------------------------------- scenarios

declare -A FLOODDROPS TCP UDP UDPLOSS PPS PPSLOSS URATE PRATE SRUNS GBU CPUTCP CPUU13 CPUU64 HOSTCPU NOTE META GBA GBB WARM LOAD RUNS REPLAY
LABELS=()

# CPU-seconds per GB: CPU seconds over the GB the TCP test moved
per_gb() { awk -v c="$1" -v b="$2" 'BEGIN{ if (b + 0 > 0) printf "%.1f", c / (b / 1e9); else print "n/a" }'; }

run_scenario() {   # run_scenario KEY LABEL BIN_A BIN_B (BIN empty = bare veth)
    local key=$1 label=$2 bin_a=$3 bin_b=$4 dest srv la lb
    LABELS+=("$key")
    NOTE[$key]=$label
    TCP[$key]=FAIL UDP[$key]=FAIL UDPLOSS[$key]="" PPS[$key]=FAIL PPSLOSS[$key]="" URATE[$key]="-" PRATE[$key]="-" SRUNS[$key]="" GBU[$key]="-"
    CPUTCP[$key]="-" CPUU13[$key]="-" CPUU64[$key]="-" HOSTCPU[$key]="-" META[$key]="-"
    GBA[$key]="-" GBB[$key]="-" WARM[$key]="-" LOAD[$key]=$(cut -d' ' -f1 /proc/loadavg) RUNS[$key]=""
    DAEMON_A="" DAEMON_B=""
    echo "== $label (load ${LOAD[$key]})" >&2
    if [ -n "$bin_a" ]; then
        la="$key-alpha" lb="$key-beta"
        start_daemon "$NS_B" "$bin_b" "$DIR_B" "$lb"; DAEMON_B=$DAEMON_PID
        # Start A once B listens, or A's first connect is refused and it retries only after 5 s.
        local i
        for i in $(seq 50); do
            ip netns exec "$NS_B" ss -Hltn 'sport = :655' 2>/dev/null | grep -q 655 && break
            kill -0 "$DAEMON_B" 2>/dev/null || break
            sleep 0.1
        done
        local t0
        t0=$(now_s)
        start_daemon "$NS_A" "$bin_a" "$DIR_A" "$la"; DAEMON_A=$DAEMON_PID
        local why
        if ! why=$(wait_tunnel "$DAEMON_A" "$DAEMON_B" "$la" "$lb" "$t0"); then
            echo "    FAILED: $why" >&2
            report_exit "$DAEMON_A" "A ($la)"; report_exit "$DAEMON_B" "B ($lb)"
            echo "    --- last lines of $la.log:" >&2; tail -n 15 "$WORK/$la.log" >&2 2>/dev/null || true
            echo "    --- last lines of $lb.log:" >&2; tail -n 15 "$WORK/$lb.log" >&2 2>/dev/null || true
            FAILED=1
            stop_pid "$DAEMON_A"; stop_pid "$DAEMON_B"
            return 0
        fi
        echo "    $why" >&2
        WARM[$key]=$(sed -n 's/^warm-up \([0-9.]*\)s.*/\1/p' <<<"$why")
        [ -n "${WARM[$key]}" ] || WARM[$key]="-"
        dest=$OVER_B
    else
        dest=$UNDER_B
    fi
    local t r tcps="" udps="" losses="" ppss="" plosses="" gba="" gbb="" gbu="" cpt="" cpu13="" cpu64="" urates="" prates="" drops13="" drops64=""
    for t in tcp udp1300 udp64; do
        for r in $(seq "$REPEAT"); do
            # A fresh one-off server per run keeps a stuck run from poisoning the next one.
            ip netns exec "$NS_B" iperf3 -s -1 >/dev/null 2>&1 & srv=$!; STARTED_PIDS+=("$srv")
            sleep 0.3
            case $t in
            tcp)
                if run_iperf "$key-tcp-$r" "$dest" -P "$TCP_STREAMS"; then
                    local v tb bytes
                    v=$(jqf '.end.sum_received.bits_per_second / 1e6 | . * 10 | round / 10' "$WORK/$key-tcp-$r.json")
                    tcps+=" $v"
                    bytes=$(jqf '.end.sum_received.bytes' "$WORK/$key-tcp-$r.json")
                    gba+=" $(per_gb "$CPU_A" "$bytes")"; gbb+=" $(per_gb "$CPU_B" "$bytes")"
                    tb=$(jqf '.end.sum_received.bytes / 1e6 | round' "$WORK/$key-tcp-$r.json")
                    [ -z "$bin_a" ] || META[$key]=$(awk -v m="$META_MB" -v t="$tb" 'BEGIN{ if (t > 0) printf "%d%%", 100 * m / t; else print "?" }')
                    HOSTCPU[$key]=$(jqf '.end.cpu_utilization_percent | "\(.host_total|round)%/\(.remote_total|round)%"' "$WORK/$key-tcp-$r.json")
                fi
                cpt+=" $CPU_A/$CPU_B" ;;
            udp1300)
                if run_iperf "$key-udp1300-$r" "$dest" -u -l 1300 -b "$UDP_RATE"; then
                    udps+=" $(jqf '.end.sum_received.bits_per_second / 1e6 | . * 10 | round / 10' "$WORK/$key-udp1300-$r.json")"
                    losses+=" $(jqf '.end.sum_received.lost_percent | . * 10 | round / 10' "$WORK/$key-udp1300-$r.json")"
                    drops13+=" $DROPS_B"
                    # the sender daemon's CPU per GB iperf3 offered (the flood: A at full speed)
                    [ -z "$bin_a" ] || gbu+=" $(per_gb "$CPU_A" "$(jqf '.end.sum_sent.bytes' "$WORK/$key-udp1300-$r.json")")"
                fi
                cpu13+=" $CPU_A/$CPU_B" ;;
            udp64)
                if run_iperf "$key-udp64-$r" "$dest" -u -l 64 -b 0; then
                    ppss+=" $(jqf '(.end.sum_received.packets - .end.sum_received.lost_packets) / .end.sum_received.seconds / 1000 | . * 10 | round / 10' "$WORK/$key-udp64-$r.json")"
                    plosses+=" $(jqf '.end.sum_received.lost_percent | . * 10 | round / 10' "$WORK/$key-udp64-$r.json")"
                    drops64+=" $DROPS_B"
                fi
                cpu64+=" $CPU_A/$CPU_B" ;;
            esac
            stop_pid "$srv"
        done
    done
    TCP[$key]=$(median <<<"$tcps"); UDP[$key]=$(median <<<"$udps"); PPS[$key]=$(median <<<"$ppss")
    [ -z "$losses" ] || UDPLOSS[$key]=$(median <<<"$losses")
    [ -z "$plosses" ] || PPSLOSS[$key]=$(median <<<"$plosses")
    [ -z "$gbu" ] || GBU[$key]=$(median <<<"$gbu")
    if [ "$UDP_SEARCH" = 1 ]; then
        # The rate searches start at this row's flood goodput (64 B: kpps as payload Mbit/s).
        local open13="" open64=""
        for r in $(seq "$REPEAT"); do
            udp_search "$key-s1300-$r" "$dest" 1300 "${UDP[$key]}"
            urates+=" $S_MBIT"; open13+=$S_OPEN; SRUNS[$key]+=" | @1300 r$r: $S_TRACE"
        done
        for r in $(seq "$REPEAT"); do
            udp_search "$key-s64-$r" "$dest" 64 "$(fcalc "${PPS[$key]/FAIL/0} * 64 * 8 / 1000")"
            prates+=" $S_KPPS"; open64+=$S_OPEN; SRUNS[$key]+=" | @64 r$r: $S_TRACE"
        done
        # "+": a search never saw a failing probe, so its figure is a lower bound.
        URATE[$key]="$(median <<<"$urates")${open13:+ +}"; PRATE[$key]="$(median <<<"$prates")${open64:+ +}"
        URATE[$key]=${URATE[$key]// /}; PRATE[$key]=${PRATE[$key]// /}
    fi
    if [ -n "$bin_a" ]; then GBA[$key]=$(median <<<"$gba"); GBB[$key]=$(median <<<"$gbb"); fi
    CPUTCP[$key]=${cpt# } CPUU13[$key]=${cpu13# } CPUU64[$key]=${cpu64# }
    [ -z "$bin_a" ] || FLOODDROPS[$key]="UDP1300 flood${drops13} | UDP64 flood${drops64}"
    RUNS[$key]="TCP${tcps} | UDP1300 flood${udps} | UDP64 flood kpps${ppss}${urates:+ | UDP1300 @<=${UDP_LOSS}%${urates}}${prates:+ | UDP64 @<=${UDP_LOSS}% kpps${prates}}"
    echo "    runs: ${RUNS[$key]}" >&2
    [ -z "${SRUNS[$key]}" ] || echo "    rate searches (offered Mbit/s:loss, x = over ${UDP_LOSS}%)${SRUNS[$key]}" >&2
    if [ -n "$bin_a" ]; then
        # tincd-swift as receiver: packets its replay window (16 bytes, tinc's default) refused over
        # the whole scenario (several TX workers on the sender interleave one peer's seqnos).
        if [ "$bin_b" = "$SWIFT_BIN" ]; then
            kill -USR2 "$DAEMON_B" 2>/dev/null || true; sleep 0.3
            REPLAY[$key]=$(grep -a 'dropped: bad MAC' "$WORK/$lb.log" | tail -n 1 | sed -n 's/.*replay \([0-9]*\).*/\1/p')
            local udpin
            udpin=$(grep -a 'udp packets in/out' "$WORK/$lb.log" | tail -n 1 | sed -n 's/.*in\/out: \([0-9]*\)\/.*/\1/p')
            echo "    B (tincd-swift) refused as late/replayed: ${REPLAY[$key]:-?} of ${udpin:-?} UDP packets received" >&2
            REPLAY[$key]="${REPLAY[$key]:-?}/${udpin:-?}"
        fi
        # Did the daemons survive the load?
        kill -0 "$DAEMON_A" 2>/dev/null || { report_exit "$DAEMON_A" "A ($la)"; FAILED=1; }
        kill -0 "$DAEMON_B" 2>/dev/null || { report_exit "$DAEMON_B" "B ($lb)"; FAILED=1; }
        stop_pid "$DAEMON_A"; stop_pid "$DAEMON_B"
    fi
    if [ "${TCP[$key]}" = FAIL ] || [ "${UDP[$key]}" = FAIL ] || [ "${PPS[$key]}" = FAIL ] \
        || [ "${URATE[$key]}" = FAIL ] || [ "${PRATE[$key]}" = FAIL ]; then FAILED=1; fi
}

START=$(date +%s)
for s in $SCENARIOS; do
    case $s in
        swift) run_scenario swift "swift<->swift" "$SWIFT_BIN" "$SWIFT_BIN" ;;
        c)     run_scenario c "C<->C" "$C_BIN" "$C_BIN" ;;
        mixed) run_scenario mixed "swift->C" "$SWIFT_BIN" "$C_BIN" ;;
        cmixed) run_scenario cmixed "C->swift" "$C_BIN" "$SWIFT_BIN" ;;
        veth)  run_scenario veth "bare veth" "" "" ;;
        *) die "unknown scenario $s" ;;
    esac
done
ELAPSED=$(( $(date +%s) - START ))

# ---------------------------------------------------------------- crypto ceiling

# Seal ceiling of one core (one flow is sealed by one TX worker) for the frame sizes of the three
# tests: TCP (1400-byte frames, as bench/crypto.sh), UDP 1300 (1342-byte frames), UDP 64 (106).
declare -A CEIL_FPS CEIL_GBIT
if [ "$CEILING" = 1 ] && [ "$SCENARIOS" != veth ]; then
    for fr in 1400 1342 106; do
        out=$(CEILING_ONLY=1 SECONDS_PER_TEST=1 FRAME=$fr CIPHER=$CIPHER DIGEST=$DIGEST "$HERE/crypto.sh" 2>/dev/null || true)
        CEIL_FPS[$fr]=$(sed -n 's/.*ceiling seal (encrypt+HMAC): *\([0-9]*\) frames\/s.*/\1/p' <<<"$out")
        CEIL_GBIT[$fr]=$(sed -n 's/.*ceiling seal (encrypt+HMAC):.* \([0-9.]*\) Gbit\/s.*/\1/p' <<<"$out")
    done
fi
ELAPSED_ALL=$(( $(date +%s) - START ))

# ---------------------------------------------------------------- report

echo
echo "tinc throughput: Cipher=$CIPHER Digest=$DIGEST Mode=switch TAP MTU $TAP_MTU, iperf3 ${DURATION}s per run, median of $REPEAT runs, TCP streams $TCP_STREAMS, UDP1300 flood -b $UDP_RATE, UDP64 flood -b 0, UDP rate search loss <= ${UDP_LOSS}% ($([ "$UDP_SEARCH" = 1 ] && echo "${UDP_PROBES} probes x ${UDP_PROBE_S}s" || echo off))"
echo "$(uname -r), $(nproc) CPUs, $("$C_BIN" --version 2>/dev/null | head -n 1 || echo 'C tincd ?'), $("$SWIFT_BIN" --version 2>/dev/null | head -n 1 || echo 'tincd-swift ?')"
echo "tincd-swift under test: sha256 ${SWIFT_ID:-?}; DataPlaneThreads ${DATAPLANE_THREADS:-default (one per core)}; load average at start $LOAD_START, at end $(cut -d' ' -f1 /proc/loadavg) ($(nproc) CPUs)"
awk -v l="$LOAD_START" 'BEGIN{ if (l + 0 > 0.5) print "WARNING: the machine was not idle when the run started (load " l "); numbers are noisy" }'
echo "(A = iperf3 client/sender, B = server/receiver; UDP columns are what B received)"
if [ "$UDP_SEARCH" = 1 ]; then
    echo "UDP @<=${UDP_LOSS}% (PRIMARY; the ratios and acceptance lines below use it): highest iperf3 -b whose ${UDP_PROBE_S}s probe lost"
    echo "  <= ${UDP_LOSS}%, at most $UDP_PROBES probes per search from the flood goodput (double, then bisect to ${UDP_RES}), what B received there;"
    echo "  median of $REPEAT searches; '+' = some search never failed a probe (a lower bound)."
else
    echo "UDP rate search off (BENCH_UDP_SEARCH=0): only the flood columns; ratios and acceptance lines use the flood figures."
fi
echo "UDP flood: unthrottled (-b 0 for UDP64, -b $UDP_RATE for UDP1300), what a saturated receiver still delivers (loss)."
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2fx", a / b; else printf "n/a" }'; }
# The UDP figures the ratios, ceiling and acceptance lines use: the rate search when it ran.
declare -A U13 U64
for k in "${LABELS[@]}"; do
    if [ "$UDP_SEARCH" = 1 ]; then U13[$k]=${URATE[$k]}; U64[$k]=${PRATE[$k]}; else U13[$k]=${UDP[$k]}; U64[$k]=${PPS[$k]}; fi
done
fmt='%-14s %5s %8s %7s | %9s %7s %16s %7s | %9s %7s %16s %7s | %-11s %7s %8s | %-5s %s\n'
printf "$fmt" scenario load "TCP Mb/s" "vs C<>C" "U1300@${UDP_LOSS}%" "vs C<>C" "U1300 flood" "vs C<>C" \
    "U64@${UDP_LOSS}%" "vs C<>C" "U64 flood" "vs C<>C" "CPUs/GB A/B" "A UDP" "warm-up" "meta" "iperf3 CPU% snd/rcv (TCP)"
printf "$fmt" "" "" "" "" "Mbit/s" "" "Mbit/s (loss)" "" "kpps" "" "kpps (loss)" "" "TCP" "s/GB" "" "" ""
for k in "${LABELS[@]}"; do
    loss="" ploss=""
    [ -z "${UDPLOSS[$k]}" ] || loss=" (${UDPLOSS[$k]}%)"
    [ -z "${PPSLOSS[$k]}" ] || ploss=" (${PPSLOSS[$k]}%)"
    printf "$fmt" \
        "${NOTE[$k]}" "${LOAD[$k]}" "${TCP[$k]}" "$(ratio "${TCP[$k]}" "${TCP[c]:-}")" \
        "${URATE[$k]}" "$(ratio "${URATE[$k]}" "${URATE[c]:-}")" "${UDP[$k]}$loss" "$(ratio "${UDP[$k]}" "${UDP[c]:-}")" \
        "${PRATE[$k]}" "$(ratio "${PRATE[$k]}" "${PRATE[c]:-}")" "${PPS[$k]}$ploss" "$(ratio "${PPS[$k]}" "${PPS[c]:-}")" \
        "${GBA[$k]}/${GBB[$k]}" "${GBU[$k]}" "${WARM[$k]}s" "${META[$k]}" "${HOSTCPU[$k]}"
done
echo

# Crypto ceiling: one flow is sealed by one TX worker on one core.
kpps_of() { awk -v m="$1" -v l="$2" 'BEGIN{ printf "%.1f", m * 1e6 / (8 * l) / 1000 }'; }   # Mbit/s of L-byte payloads -> kpps
share() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.0f%%", 100 * a / b; else printf "n/a" }'; }
if [ -n "${CEIL_FPS[1400]:-}" ] && [ -n "${TCP[swift]:-}" ]; then
    echo "crypto ceiling, seal on one core (openssl speed, this run; one flow = one TX worker):"
    echo "  TCP        1400-byte frames ${CEIL_GBIT[1400]} Gbit/s; swift<->swift TCP ${TCP[swift]} Mbit/s = $(share "${TCP[swift]}" "$(fcalc "${CEIL_GBIT[1400]} * 1000")") of it"
    echo "  UDP 1300   1342-byte frames $(fcalc "${CEIL_FPS[1342]} / 1000") kframes/s; swift<->swift UDP1300 @<=${UDP_LOSS}% $(kpps_of "${U13[swift]}" 1300) kpps = $(share "$(kpps_of "${U13[swift]}" 1300)" "$(fcalc "${CEIL_FPS[1342]} / 1000")") of it"
    echo "  UDP 64      106-byte frames $(fcalc "${CEIL_FPS[106]} / 1000") kframes/s; swift<->swift UDP64 @<=${UDP_LOSS}% ${U64[swift]} kpps = $(share "${U64[swift]}" "$(fcalc "${CEIL_FPS[106]} / 1000")") of it"
fi

# Issue 12's acceptance, this run: swift<->swift >= 4x C<->C in TCP and UDP 64, >= 3x in UDP 1300,
# or >= 85 % of the crypto ceiling where that ceiling is below the multiple; mixed rows >= 1.0x.
verdict() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 <= 0 || b+0 <= 0) print "n/a"; else if (a + 0 >= b + 0) print "met"; else print "NOT met" }'; }
bar() {   # bar VALUE_C MULTIPLE CEILING_IN_SAME_UNIT -> the bar a swift<->swift figure must reach
    awk -v c="$1" -v m="$2" -v l="$3" 'BEGIN{ b = c * m; if (l + 0 > 0 && 0.85 * l < b) b = 0.85 * l; printf "%.1f", b }'
}
if [ -n "${TCP[swift]:-}" ] && [ -n "${TCP[c]:-}" ]; then
    echo "issue 12 acceptance, this run (UDP: the @<=${UDP_LOSS}% figures$([ "$UDP_SEARCH" = 1 ] || echo '; search off: flood figures')):"
    b=$(bar "${TCP[c]}" 4 "$(fcalc "${CEIL_GBIT[1400]:-0} * 1000")")
    echo "  swift<->swift TCP      $(ratio "${TCP[swift]}" "${TCP[c]}") C<->C (bar 4x or 85% of ceiling: $b Mbit/s): $(verdict "${TCP[swift]}" "$b")"
    b=$(bar "$(kpps_of "${U13[c]}" 1300)" 3 "$(fcalc "${CEIL_FPS[1342]:-0} / 1000")")
    echo "  swift<->swift UDP1300  $(ratio "${U13[swift]}" "${U13[c]}") C<->C (bar 3x or 85% of ceiling: $b kpps): $(verdict "$(kpps_of "${U13[swift]}" 1300)" "$b")"
    b=$(bar "${U64[c]}" 4 "$(fcalc "${CEIL_FPS[106]:-0} / 1000")")
    echo "  swift<->swift UDP64    $(ratio "${U64[swift]}" "${U64[c]}") C<->C (bar 4x or 85% of ceiling: $b kpps): $(verdict "${U64[swift]}" "$b")"
    for k in mixed cmixed; do
        [ -n "${TCP[$k]:-}" ] || continue
        echo "  ${NOTE[$k]}$(printf '%*s' $((14 - ${#NOTE[$k]})) '') TCP $(ratio "${TCP[$k]}" "${TCP[c]}") $(verdict "${TCP[$k]}" "${TCP[c]}"), UDP1300 $(ratio "${U13[$k]}" "${U13[c]}") $(verdict "${U13[$k]}" "${U13[c]}"), UDP64 $(ratio "${U64[$k]}" "${U64[c]}") $(verdict "${U64[$k]}" "${U64[c]}") (bar 1.0x C<->C)"
    done
    echo "  CPU-s/GB (TCP) swift ${GBA[swift]}/${GBB[swift]} vs C ${GBA[c]}/${GBB[c]} (bar 1/3 of C): sender $(verdict "$(fcalc "${GBA[c]/n\/a/0} / 3")" "${GBA[swift]}"), receiver $(verdict "$(fcalc "${GBB[c]/n\/a/0} / 3")" "${GBB[swift]}")"
    echo "  warm-up swift ${WARM[swift]}s vs C ${WARM[c]}s (bar 2 s): $(verdict 2 "${WARM[swift]}")"
fi
echo
echo "each run (Mbit/s; kpps):"
for k in "${LABELS[@]}"; do printf '  %-14s %s%s\n' "${NOTE[$k]}" "${RUNS[$k]}" "${REPLAY[$k]:+ | B refused late/replayed: ${REPLAY[$k]} UDP packets}"; done
if [ "$UDP_SEARCH" = 1 ]; then
    echo "rate searches (offered Mbit/s:loss per probe, x = over ${UDP_LOSS}%, /dN = N datagrams dropped at B's full tinc socket):"
    for k in "${LABELS[@]}"; do printf '  %-14s%s\n' "${NOTE[$k]}" "${SRUNS[$k]}"; done
fi
echo "datagrams dropped at B's tinc UDP socket (receive buffer full) per flood run:"
for k in "${LABELS[@]}"; do [ -z "${FLOODDROPS[$k]:-}" ] || printf '  %-14s %s\n' "${NOTE[$k]}" "${FLOODDROPS[$k]}"; done
echo "A UDP s/GB = A's daemon CPU (all threads) during the UDP1300 flood over the GB iperf3 offered (median of $REPEAT)."
echo "daemon CPU s A/B per TCP run: $(for k in "${LABELS[@]}"; do printf '%s: %s; ' "${NOTE[$k]}" "${CPUTCP[$k]}"; done)"
echo "CPU s/GB = utime+stime of each whole daemon process (all threads) during the TCP run over the GB moved (median of $REPEAT)."
echo "warm-up = seconds from the second daemon's start until a ping went through and both daemons reported a fixed PMTU"
echo "  for each other (0.2 s resolution; the first REQ_KEY waits for the first ping, sent from the start every 0.2 s)."
echo "TCP->meta = share of the TCP test's payload that A sent over the tinc meta TCP connection (frames > PMTU go there"
echo "  as PACKET requests when the inner TCP MSS is not clamped); ~0% = the UDP data path carried it."
echo "daemon CPU s = utime+stime of the whole daemon process (all threads) during the ${DURATION}s iperf3 run: ~${DURATION} = one core"
echo "  busy (CPU bound if single-threaded); the 2 daemons + iperf3 client + server share $(nproc) CPUs, so a sum near $(( $(nproc) * DURATION )) = machine saturated."
echo "total wall time ${ELAPSED_ALL}s (scenarios ${ELAPSED}s); work dir $WORK$([ "$KEEP" = 1 ] || [ "$FAILED" != 0 ] || echo ' (removed)')"
[ "$FAILED" = 0 ] || { echo "some scenario FAILED (see above; logs kept in $WORK)"; exit 1; }
