#!/usr/bin/env bash
# BGP table-transfer benchmark: a bird2 SENDER announces N IPv4 /24s over eBGP; the same table is
# received (1) by BGPLite standalone (`tincd-swift bgp`) and (2) by bird2, one after the other in
# the same run. For each receiver: seconds until all N routes are in its table, its RSS (final and
# peak), CPU seconds; then the ratios BGPLite/bird2 against the bars (time <= 2x, RSS <= 3x).
#
# Set-up: two network namespaces (tbb<pid>s, tbb<pid>r) joined by a veth (192.0.2.1 <-> 192.0.2.2).
# The sender is bird2 with `protocol static` holding N `route A.B.C.0/24 blackhole;` lines (1.0.0.0/24
# upward, 65536 per /8: 1M routes = 1.0.0.0/8 .. 16.63.255.0/24), exporting all to the receiver
# (eBGP, next hop self: one attribute set, so BIRD packs ~1000 prefixes per 4 KB UPDATE). The
# sender is `passive on` and is restarted, with its routes loaded, before each receiver, so each
# receiver sees a fresh, identical sender. Receivers import all into their table and export
# nothing; neither has a kernel protocol (Loc-RIB / master4 only, no FIB writes).
#
# What is timed ("load"): from the receiver's session going Established (the receiver's own
# `show protocols` Since time, millisecond resolution, same wall clock) until the benchmark sees
# N routes in the receiver's table:
#   bird2    `birdc show route count`, polled every POLL s (default 0.1)
#   BGPLite  DIR/bgp.status, which the speaker rewrites itself (debounced 0.2 s) while the table
#            changes, polled every POLL s; the end time is the mtime of the first status file
#            showing N. No SIGUSR1 is sent: a status write walks the whole table (~0.1 CPU s at
#            1M routes, printed per run), so signalling every poll would mostly measure that.
# Resolution: bird2 +0..POLL s (+ birdc round trip); BGPLite +0..0.2 s (+ one status write), so
# BGPLite's figure is an upper bound and small N (< ~200k) are dominated by that granularity.
# The sender is also queried (birdc) every poll, during both receivers' runs alike: BIRD 2.0's
# main loop otherwise sleeps up to 3 s in poll() with the last feed batch (<= 256 routes) still
# queued for BGP TX, which added 1-3 s of sender-side noise to every measurement.
# Also printed: "setup" = receiver start -> Established (BGPLite connects at once, bird2 after its
# 1 s connect delay), "total" = receiver start -> N routes, receiver CPU seconds (utime+stime).
# RSS: VmRSS when N is reached and VmHWM (peak). The sender's export speed bounds both receivers.
#
# Environment:
#   N               routes (default 1000000); QUICK=1 -> N=100000
#   POLL            poll interval in seconds (default 0.1)
#   TIMEOUT         seconds to wait for N routes per receiver (default 600)
#   REPEAT          runs per receiver, interleaved; medians are reported (default 3)
#   RECEIVERS       subset/order, default "bgplite bird"
#   TINCD_SWIFT_BIN default <repo>/.build/release/tincd-swift (a private copy is run)
#   BIRD_BIN, BIRDC_BIN  default /usr/sbin/bird, /usr/sbin/birdc
#   TRACE=1         print every poll (time since receiver start, route count)
#   PERF_DIR=DIR    profile each receiver during its load: perf record -g into DIR/perf-<receiver>.data
#   KEEP=1          keep the work directory (configs, logs); kept anyway on failure
# Needs root, iproute2, bird2.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then N=${N:-100000}; else N=${N:-1000000}; fi
POLL=${POLL:-0.1}
TIMEOUT=${TIMEOUT:-600}
RECEIVERS=${RECEIVERS:-bgplite bird}
SWIFT_BIN=${TINCD_SWIFT_BIN:-$ROOT/.build/release/tincd-swift}
BIRD_BIN=${BIRD_BIN:-/usr/sbin/bird}
BIRDC_BIN=${BIRDC_BIN:-/usr/sbin/birdc}
KEEP=${KEEP:-0}
TRACE=${TRACE:-0}
REPEAT=${REPEAT:-3}
PERF_DIR=${PERF_DIR:-}

die() { echo "bgp.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in ip awk timeout stat; do command -v "$t" >/dev/null || die "missing tool: $t"; done
[ -x "$BIRD_BIN" ] && [ -x "$BIRDC_BIN" ] || die "bird2 not found ($BIRD_BIN, $BIRDC_BIN)"
case " $RECEIVERS " in *" bgplite "*) [ -x "$SWIFT_BIN" ] || die "no tincd-swift at $SWIFT_BIN (run: swift build -c release)";; esac
[ -z "$PERF_DIR" ] || command -v perf >/dev/null || die "PERF_DIR set but perf is not installed"
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 8000000 ] || die "N must be 1..8000000"

TAG="tbb$$"
NS_S="${TAG}s"
NS_R="${TAG}r"
ADDR_S=192.0.2.1 ADDR_R=192.0.2.2
AS_S=65001 AS_R=65000
WORK=$(mktemp -d "/tmp/${TAG}.XXXXXX")
CLK_TCK=$(getconf CLK_TCK)
STARTED_PIDS=()
CREATED_NS=()
FAILED=0

# ---------------------------------------------------------------- cleanup

stop_pid() {   # stop_pid PID: TERM, wait up to 10 s, then KILL; only if it is still one of ours
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    case "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" in
        *"$WORK"*) ;;          # our daemons all run with a config under $WORK
        *) return 0 ;;
    esac
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
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

# The lead may rebuild .build/release while this runs: run a private copy of the binary.
if [ -x "$SWIFT_BIN" ]; then
    cp "$SWIFT_BIN" "$WORK/tincd-swift"
    SWIFT_ID="$(sha256sum "$SWIFT_BIN" | cut -c1-12), built $(date -r "$SWIFT_BIN" '+%F %T')"
    SWIFT_BIN="$WORK/tincd-swift"
fi

# ---------------------------------------------------------------- helpers

now() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a - b}'; }
kb_to_mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
proc_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }   # proc_kb PID VmRSS|VmHWM
cpu_s() {   # utime+stime of PID in seconds
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }
    awk -v h="$CLK_TCK" '{printf "%.2f", ($12 + $13) / h}' <<<"$stat"
}

# "HH:MM:SS[.mmm]" (local time, today) -> epoch seconds, taken as the most recent such moment
clock_to_epoch() {
    local hms=$1 midnight
    midnight=$(date -d "$(date +%F) 00:00:00" +%s)
    awk -v t="$hms" -v m="$midnight" -v n="$(now)" 'BEGIN{
        split(t, a, ":"); e = m + a[1] * 3600 + a[2] * 60 + a[3];
        if (e > n + 60) e -= 86400; printf "%.3f", e }'
}

birdc_() { ip netns exec "$1" "$BIRDC_BIN" -s "$2" "${@:3}" 2>/dev/null; }

# first number of the "X of Y routes for Z networks in table master4" line
bird_count() { birdc_ "$1" "$2" show route count | awk '/routes for .* networks/ {print $1; f=1; exit} END{if (!f) print 0}'; }

start_bird() {   # start_bird NS DIR LABEL -> BIRD_PID
    local ns=$1 dir=$2 label=$3
    ip netns exec "$ns" "$BIRD_BIN" -f -c "$dir/bird.conf" -s "$dir/bird.ctl" -P "$dir/bird.pid" \
        >"$WORK/$label.out" 2>&1 &
    BIRD_PID=$!
    STARTED_PIDS+=("$BIRD_PID")
}

alive_or_die() {   # alive_or_die PID WHAT
    kill -0 "$1" 2>/dev/null && return 0
    FAILED=1
    echo "bgp.sh: $2 (pid $1) exited; last output:" >&2
    tail -n 20 "$WORK/$2.out" >&2 2>/dev/null || true
    exit 1
}

# ---------------------------------------------------------------- namespaces

ip netns add "$NS_S"; CREATED_NS+=("$NS_S")
ip netns add "$NS_R"; CREATED_NS+=("$NS_R")
ip -n "$NS_S" link add eth0 type veth peer name eth0 netns "$NS_R"
ip -n "$NS_S" addr add "$ADDR_S/24" dev eth0
ip -n "$NS_R" addr add "$ADDR_R/24" dev eth0
for ns in "$NS_S" "$NS_R"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done

# ---------------------------------------------------------------- configs

SDIR="$WORK/sender" BDIR="$WORK/bird-rx" LDIR="$WORK/bgplite-rx"
mkdir -p "$SDIR" "$BDIR" "$LDIR"

t=$(now)
{
    cat <<EOF
router id $ADDR_S;
timeformat protocol "%T.%3f";
protocol device {}
protocol static bench {
    ipv4;
EOF
    awk -v n="$N" 'BEGIN{ for (i = 0; i < n; i++)
        printf "    route %d.%d.%d.0/24 blackhole;\n", 1 + int(i / 65536), int(i / 256) % 256, i % 256 }'
    cat <<EOF
}
protocol bgp receiver {
    local $ADDR_S as $AS_S;
    neighbor $ADDR_R as $AS_R;
    passive on;
    ipv4 { import none; export all; };
}
EOF
} >"$SDIR/bird.conf"
GEN_S=$(fsub "$(now)" "$t")

cat >"$BDIR/bird.conf" <<EOF
router id $ADDR_R;
timeformat protocol "%T.%3f";
protocol device {}
protocol bgp sender {
    local $ADDR_R as $AS_R;
    neighbor $ADDR_S as $AS_S;
    connect delay time 1;
    ipv4 { import all; export none; };
}
EOF

cat >"$LDIR/bgp.conf" <<EOF
router id $ADDR_R;
protocol device {}
protocol bgp sender {
    local $ADDR_R as $AS_R;
    neighbor $ADDR_S as $AS_S;
    ipv4 { import all; export none; };
}
EOF

# ---------------------------------------------------------------- sender

SENDER_PID=""
start_sender() {   # (re)start the sender bird and wait until its table holds N routes
    local t0 c i
    if [ -n "$SENDER_PID" ]; then stop_pid "$SENDER_PID"; SENDER_PID=""; fi
    t0=$(now)
    start_bird "$NS_S" "$SDIR" sender
    SENDER_PID=$BIRD_PID
    for i in $(seq 1200); do
        alive_or_die "$SENDER_PID" sender
        c=$(bird_count "$NS_S" "$SDIR/bird.ctl" || echo 0)
        [ "$c" = "$N" ] && break
        sleep 0.25
    done
    [ "$c" = "$N" ] || { FAILED=1; die "sender bird did not load $N routes (has $c)"; }
    SENDER_LOAD_S=$(fsub "$(now)" "$t0")
    SENDER_RSS_KB=$(proc_kb "$SENDER_PID" VmRSS)
}

# ---------------------------------------------------------------- receivers

declare -A R_LOAD R_SETUP R_TOTAL R_RSS R_HWM R_CPU R_OK R_STATUS

# Since column (HH:MM:SS.mmm) of protocol `sender` when it is up/Established, else empty
est_bird() { birdc_ "$NS_R" "$BDIR/bird.ctl" show protocols sender | awk '$1 == "sender" && /Established/ {print $5}'; }
est_bgplite() { awk '$1 == "sender" && $2 == "BGP" && /Established/ {print $5; exit}' "$LDIR/bgp.status" 2>/dev/null || true; }

# routes in BGPLite's Loc-RIB per bgp.status (count line above 20000 routes, else the listing)
count_bgplite() {
    awk '/routes for .* networks in table master4/ {c = $1; f = 1}
         /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\/[0-9]+ / {l++}
         END {print f ? c : l + 0}' "$LDIR/bgp.status" 2>/dev/null || echo 0
}

run_receiver() {   # run_receiver bgplite|bird
    local which=$1 pid perf_pid t_start t_est="" t_end="" est c deadline mt sx t_sx=""
    start_sender
    echo "  sender ready: $N routes loaded in ${SENDER_LOAD_S} s (sender RSS $(kb_to_mb "$SENDER_RSS_KB") MB)" >&2
    rm -f "$LDIR/bgp.status"
    t_start=$(now)
    if [ "$which" = bgplite ]; then
        ip netns exec "$NS_R" "$SWIFT_BIN" bgp -c "$LDIR" -d0 --logfile "$WORK/bgplite.log" >"$WORK/bgplite.out" 2>&1 &
    else
        ip netns exec "$NS_R" "$BIRD_BIN" -f -c "$BDIR/bird.conf" -s "$BDIR/bird.ctl" -P "$BDIR/bird.pid" >"$WORK/bird.out" 2>&1 &
    fi
    pid=$!
    STARTED_PIDS+=("$pid")
    perf_pid=""
    if [ -n "$PERF_DIR" ]; then   # profile the receiver while it loads (perf record -g -p PID)
        perf record -q -F 999 -g -p "$pid" -o "$PERF_DIR/perf-$which.data" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    deadline=$(awk -v t="$t_start" -v d="$TIMEOUT" 'BEGIN{printf "%d", t + d}')
    c=0
    while :; do
        alive_or_die "$pid" "$which"
        if [ -z "$t_est" ]; then
            est=$("est_$which" || true)
            [ -z "$est" ] || t_est=$(clock_to_epoch "$est")
        fi
        if [ "$which" = bgplite ]; then
            mt=$(stat -c %.3Y "$LDIR/bgp.status" 2>/dev/null || echo "")
            c=$(count_bgplite)
            if [ "$c" = "$N" ] && [ -n "$t_est" ]; then t_end=$mt; break; fi
        else
            c=$(bird_count "$NS_R" "$BDIR/bird.ctl" || echo 0)
            if [ "$c" = "$N" ] && [ -n "$t_est" ]; then t_end=$(now); break; fi
        fi
        # Also query the sender each poll: BIRD 2.0's main loop can sleep up to 3 s in poll() with the
        # last feed batch (the final <=256 routes) queued for BGP TX; a control-socket request wakes it.
        # Both receivers get the same treatment. Its "exported" count says when it handed out all N.
        sx=$(birdc_ "$NS_S" "$SDIR/bird.ctl" show protocols all receiver | sed -n 's/.* \([0-9]*\) exported.*/\1/p' | head -n 1 || true)
        if [ -z "$t_sx" ] && [ "${sx:-0}" = "$N" ]; then t_sx=$(now); fi
        [ "$TRACE" != 1 ] || echo "    trace $which: +$(fsub "$(now)" "$t_start") s count=$c established=${t_est:+yes} sender-exported=${sx:-?}" >&2
        if [ "$(date +%s)" -ge "$deadline" ]; then break; fi
        sleep "$POLL"
    done
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
    R_RSS[$which]=$(proc_kb "$pid" VmRSS)
    R_HWM[$which]=$(proc_kb "$pid" VmHWM)
    R_CPU[$which]=$(cpu_s "$pid")
    if [ -n "$t_end" ]; then
        R_OK[$which]=1
        R_LOAD[$which]=$(fsub "$t_end" "$t_est")
        R_SETUP[$which]=$(fsub "$t_est" "$t_start")
        R_TOTAL[$which]=$(fsub "$t_end" "$t_start")
    else
        R_OK[$which]=0; FAILED=1
        echo "  $which: TIMEOUT after $TIMEOUT s with $c of $N routes" >&2
    fi
    if [ "$which" = bird ]; then birdc_ "$NS_R" "$BDIR/bird.ctl" show memory >"$WORK/bird-rx-memory.txt" || true; fi
    if [ "$which" = bgplite ] && [ -n "$t_end" ]; then
        # CPU cost of one status write (show protocols + show route count + show protocols all) at
        # this table size: the speaker does this every 0.2 s on its own while routes arrive.
        local c0 c1 m0 i
        sleep 0.3
        m0=$(stat -c %.3Y "$LDIR/bgp.status"); c0=$(cpu_s "$pid")
        kill -USR1 "$pid"
        for i in $(seq 100); do [ "$(stat -c %.3Y "$LDIR/bgp.status")" != "$m0" ] && break; sleep 0.02; done
        c1=$(cpu_s "$pid")
        R_STATUS[$which]=$(fsub "$c1" "$c0")
    fi
    stop_pid "$pid"
}

echo "bgp.sh: N=$N /24s, sender config generated in ${GEN_S} s ($(du -h "$SDIR/bird.conf" | cut -f1)); poll ${POLL} s; $REPEAT run(s) per receiver" >&2
[ -z "${SWIFT_ID:-}" ] || echo "bgp.sh: tincd-swift $SWIFT_ID" >&2
echo "bgp.sh: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

declare -A M_LOAD M_SETUP M_TOTAL M_RSS M_HWM M_CPU M_OK   # space-separated values of all runs
for r in $RECEIVERS; do
    case "$r" in bgplite|bird) ;; *) die "unknown receiver $r";; esac
    M_OK[$r]=1
done
for rep in $(seq "$REPEAT"); do   # receivers interleaved per repetition (drifting load hits both)
    for r in $RECEIVERS; do
        echo "receiver $r, run $rep/$REPEAT:" >&2
        run_receiver "$r"
        if [ "${R_OK[$r]}" = 1 ]; then
            echo "  $r: ${R_LOAD[$r]} s after Established (setup ${R_SETUP[$r]} s), RSS $(kb_to_mb "${R_RSS[$r]}") MB, peak $(kb_to_mb "${R_HWM[$r]}") MB, CPU ${R_CPU[$r]} s${R_STATUS[$r]:+; one status write ${R_STATUS[$r]} CPU s}" >&2
            for k in LOAD SETUP TOTAL RSS HWM CPU; do
                declare -n src="R_$k" dst="M_$k"
                dst[$r]="${dst[$r]:-} ${src[$r]}"
                unset -n src dst
            done
        else
            M_OK[$r]=0
        fi
    done
done
stop_pid "$SENDER_PID"

median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
spread() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}'; }

# ---------------------------------------------------------------- report

echo
echo "BGP table transfer: bird2 sender -> receiver, N = $N IPv4 /24s (eBGP, one attribute set), no kernel export"
echo "load = receiver Established -> N routes in its table; median of $REPEAT run(s) (range in brackets)"
echo "resolution: bird2 birdc poll ${POLL} s; BGPLite its own 0.2 s-debounced bgp.status (file mtime), so BGPLite's time is an upper bound"
printf '%-9s %22s %9s %9s %10s %10s %9s\n' receiver "load s" "setup s" "total s" "RSS MB" "peak MB" "CPU s"
for r in $RECEIVERS; do
    name=$r; [ "$r" = bird ] && name=bird2
    if [ "${M_OK[$r]}" = 1 ]; then
        printf '%-9s %22s %9s %9s %10s %10s %9s\n' "$name" "$(median "${M_LOAD[$r]}") [$(spread "${M_LOAD[$r]}")]" \
            "$(median "${M_SETUP[$r]}")" "$(median "${M_TOTAL[$r]}")" "$(kb_to_mb "$(median "${M_RSS[$r]}")")" \
            "$(kb_to_mb "$(median "${M_HWM[$r]}")")" "$(median "${M_CPU[$r]}")"
    else
        printf '%-9s %22s\n' "$name" "timeout/failed"
    fi
done
if [ "${M_OK[bgplite]:-0}" = 1 ] && [ "${M_OK[bird]:-0}" = 1 ]; then
    verdict() { awk -v r="$1" -v b="$2" 'BEGIN{print (r <= b) ? "PASS" : "FAIL"}'; }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b <= 0) print "inf"; else printf "%.2f", a / b }'; }
    rt=$(ratio "$(median "${M_LOAD[bgplite]}")" "$(median "${M_LOAD[bird]}")")
    rr=$(ratio "$(median "${M_RSS[bgplite]}")" "$(median "${M_RSS[bird]}")")
    rh=$(ratio "$(median "${M_HWM[bgplite]}")" "$(median "${M_HWM[bird]}")")
    rc=$(ratio "$(median "${M_CPU[bgplite]}")" "$(median "${M_CPU[bird]}")")
    echo
    echo "BGPLite / bird2 (medians):"
    printf '  load time  %6sx   bar <= 2x   %s\n' "$rt" "$(verdict "$rt" 2)"
    printf '  RSS final  %6sx   bar <= 3x   %s\n' "$rr" "$(verdict "$rr" 3)"
    printf '  RSS peak   %6sx   bar <= 3x   %s\n' "$rh" "$(verdict "$rh" 3)"
    printf '  CPU        %6sx   (info)\n' "$rc"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (2 shared cores: compare ratios, not absolute times)"
[ "$FAILED" = 0 ]
