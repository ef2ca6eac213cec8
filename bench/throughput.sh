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

# run_iperf NAME DEST ARGS... : iperf3 client in A -> server in B, JSON to $WORK/NAME.json;
# sets CPU_A / CPU_B (seconds used by DAEMON_A/DAEMON_B during the run).
run_iperf() {
    local name=$1 dest=$2; shift 2
    local a0 b0 a1 b1 m0 m1 rc=0
    a0=$(cpu_ticks "${DAEMON_A:-0}"); b0=$(cpu_ticks "${DAEMON_B:-0}"); m0=$(meta_bytes "$NS_A")
    timeout $((DURATION + 25)) ip netns exec "$NS_A" iperf3 -c "$dest" -t "$DURATION" --connect-timeout 5000 -J "$@" \
        >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
    a1=$(cpu_ticks "${DAEMON_A:-0}"); b1=$(cpu_ticks "${DAEMON_B:-0}"); m1=$(meta_bytes "$NS_A")
    CPU_A=$(ticks_to_s $((a1 - a0))); CPU_B=$(ticks_to_s $((b1 - b0))); META_MB=$(( (m1 - m0) / 1000000 ))
    if [ "$rc" != 0 ] || ! jq -e '.end.sum_received' "$WORK/$name.json" >/dev/null 2>&1; then
        local err
        err=$(jq -r '.error // empty' "$WORK/$name.json" 2>/dev/null || true)
        echo "    iperf3 $name failed (rc $rc${err:+: $err})" >&2
        return 1
    fi
}

jqf() { jq -r "$1" "$2" 2>/dev/null || echo "n/a"; }

# ---------------------------------------------------------------- scenarios

declare -A TCP UDP UDPLOSS PPS CPUTCP CPUU13 CPUU64 HOSTCPU NOTE META GBA GBB WARM LOAD RUNS REPLAY
LABELS=()

# CPU-seconds per GB: CPU seconds over the GB the TCP test moved
per_gb() { awk -v c="$1" -v b="$2" 'BEGIN{ if (b + 0 > 0) printf "%.1f", c / (b / 1e9); else print "n/a" }'; }

run_scenario() {   # run_scenario KEY LABEL BIN_A BIN_B (BIN empty = bare veth)
    local key=$1 label=$2 bin_a=$3 bin_b=$4 dest srv la lb
    LABELS+=("$key")
    NOTE[$key]=$label
    TCP[$key]=FAIL UDP[$key]=FAIL UDPLOSS[$key]="" PPS[$key]=FAIL
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
    local t r tcps="" udps="" losses="" ppss="" gba="" gbb="" cpt="" cpu13="" cpu64=""
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
                fi
                cpu13+=" $CPU_A/$CPU_B" ;;
            udp64)
                if run_iperf "$key-udp64-$r" "$dest" -u -l 64 -b 0; then
                    ppss+=" $(jqf '(.end.sum_received.packets - .end.sum_received.lost_packets) / .end.sum_received.seconds / 1000 | . * 10 | round / 10' "$WORK/$key-udp64-$r.json")"
                fi
                cpu64+=" $CPU_A/$CPU_B" ;;
            esac
            stop_pid "$srv"
        done
    done
    TCP[$key]=$(median <<<"$tcps"); UDP[$key]=$(median <<<"$udps"); PPS[$key]=$(median <<<"$ppss")
    [ -z "$losses" ] || UDPLOSS[$key]=$(median <<<"$losses")
    if [ -n "$bin_a" ]; then GBA[$key]=$(median <<<"$gba"); GBB[$key]=$(median <<<"$gbb"); fi
    CPUTCP[$key]=${cpt# } CPUU13[$key]=${cpu13# } CPUU64[$key]=${cpu64# }
    RUNS[$key]="TCP${tcps} | UDP1300${udps} | UDP64 kpps${ppss}"
    echo "    runs: ${RUNS[$key]}" >&2
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
    if [ "${TCP[$key]}" = FAIL ] || [ "${UDP[$key]}" = FAIL ] || [ "${PPS[$key]}" = FAIL ]; then FAILED=1; fi
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

# ---------------------------------------------------------------- report

echo
echo "tinc throughput: Cipher=$CIPHER Digest=$DIGEST Mode=switch TAP MTU $TAP_MTU, iperf3 ${DURATION}s per run, median of $REPEAT runs, TCP streams $TCP_STREAMS, UDP1300 -b $UDP_RATE, UDP64 -b 0"
echo "$(uname -r), $(nproc) CPUs, $("$C_BIN" --version 2>/dev/null | head -n 1 || echo 'C tincd ?'), $("$SWIFT_BIN" --version 2>/dev/null | head -n 1 || echo 'tincd-swift ?')"
echo "tincd-swift under test: sha256 ${SWIFT_ID:-?}; DataPlaneThreads ${DATAPLANE_THREADS:-default (one per core)}; load average at start $LOAD_START, at end $(cut -d' ' -f1 /proc/loadavg) ($(nproc) CPUs)"
awk -v l="$LOAD_START" 'BEGIN{ if (l + 0 > 0.5) print "WARNING: the machine was not idle when the run started (load " l "); numbers are noisy" }'
echo "(A = iperf3 client/sender, B = server/receiver; UDP columns are what B received)"
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2fx", a / b; else printf "n/a" }'; }
printf '%-14s %5s %10s %7s %22s %7s %10s %7s | %-15s %8s | %-9s %s\n' \
    scenario load "TCP Mbit/s" "vs C<>C" "UDP1300 Mbit/s (loss)" "vs C<>C" "UDP64 kpps" "vs C<>C" "CPU s/GB A/B" "warm-up" "TCP->meta" "iperf3 CPU% snd/rcv (TCP)"
for k in "${LABELS[@]}"; do
    loss=""
    [ -z "${UDPLOSS[$k]}" ] || loss=" (${UDPLOSS[$k]}%)"
    printf '%-14s %5s %10s %7s %22s %7s %10s %7s | %-15s %8s | %-9s %s\n' \
        "${NOTE[$k]}" "${LOAD[$k]}" "${TCP[$k]}" "$(ratio "${TCP[$k]}" "${TCP[c]:-}")" "${UDP[$k]}$loss" "$(ratio "${UDP[$k]}" "${UDP[c]:-}")" \
        "${PPS[$k]}" "$(ratio "${PPS[$k]}" "${PPS[c]:-}")" "${GBA[$k]}/${GBB[$k]}" "${WARM[$k]}s" "${META[$k]}" "${HOSTCPU[$k]}"
done
echo
echo "each run (Mbit/s; kpps):"
for k in "${LABELS[@]}"; do printf '  %-14s %s%s\n' "${NOTE[$k]}" "${RUNS[$k]}" "${REPLAY[$k]:+ | B refused late/replayed: ${REPLAY[$k]} UDP packets}"; done
echo "daemon CPU s A/B per TCP run: $(for k in "${LABELS[@]}"; do printf '%s: %s; ' "${NOTE[$k]}" "${CPUTCP[$k]}"; done)"
echo "CPU s/GB = utime+stime of each whole daemon process (all threads) during the TCP run over the GB moved (median of $REPEAT)."
echo "warm-up = seconds from the second daemon's start until a ping went through and both daemons reported a fixed PMTU"
echo "  for each other (0.2 s resolution; the first REQ_KEY waits for the first ping, sent from the start every 0.2 s)."
echo "TCP->meta = share of the TCP test's payload that A sent over the tinc meta TCP connection (frames > PMTU go there"
echo "  as PACKET requests when the inner TCP MSS is not clamped); ~0% = the UDP data path carried it."
echo "daemon CPU s = utime+stime of the whole daemon process (all threads) during the ${DURATION}s iperf3 run: ~${DURATION} = one core"
echo "  busy (CPU bound if single-threaded); the 2 daemons + iperf3 client + server share $(nproc) CPUs, so a sum near $(( $(nproc) * DURATION )) = machine saturated."
echo "total wall time ${ELAPSED}s; work dir $WORK$([ "$KEEP" = 1 ] || [ "$FAILED" != 0 ] || echo ' (removed)')"
[ "$FAILED" = 0 ] || { echo "some scenario FAILED (see above; logs kept in $WORK)"; exit 1; }
