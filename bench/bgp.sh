#!/usr/bin/env bash
# BGP table-transfer benchmark with re-advertising: a bird2 SENDER announces N IPv4 /24s (and N6
# IPv6 /48s) over eBGP to the RECEIVER under test, which re-advertises everything over eBGP to a
# DOWNSTREAM bird2. The receiver is (1) BGPLite standalone (`tincd-swift bgp`) and (2) bird2, one
# after the other, interleaved, in the same run. For each receiver: seconds until the downstream
# holds all routes, the receiver's RSS (final and peak) and CPU seconds; then the ratios
# BGPLite/bird2 against issue 13's bars (time <= 1.0x, RSS final and peak <= 1.5x, CPU <= 2x).
#
# Set-up: three network namespaces named after this run's pid (tbb<pid>s, tbb<pid>r, tbb<pid>d),
# sender 192.0.2.1 / 2001:db8:1::1 <-> receiver 192.0.2.2 / 2001:db8:1::2 on one veth, receiver
# 198.51.100.1 / 2001:db8:2::1 <-> downstream 198.51.100.2 / 2001:db8:2::2 on another. IPv6 routes
# (N6 > 0) go over separate IPv6 sessions on the same links. The sender is bird2 with `protocol
# static` holding N `route A.B.C.0/24 blackhole;` lines (1.0.0.0/24 upward, 65536 per /8: 1M routes
# = 1.0.0.0/8 .. 16.63.255.0/24) and N6 `route 2a02:X:Y::/48 blackhole;` lines, exporting all (eBGP,
# next hop self: one attribute set per family, so ~1000 prefixes per 4 KB UPDATE). The receiver
# imports all and exports all to the downstream (eBGP: next hop self, its AS prepended). Sender and
# downstream are `passive on`; both are restarted, the sender with its routes loaded, before each
# receiver, so each receiver sees a fresh, identical pair. Nobody has a kernel protocol (no FIB
# writes).
#
# What is timed ("load"): from the receiver's session to the sender going Established (the
# receiver's own `show protocols` Since time, millisecond resolution, same wall clock) until
# `birdc show route count` on the downstream shows all N + N6 routes, polled every POLL s (default
# 0.1). The same probe for both receivers: resolution +0..POLL s plus one birdc round trip.
# The sender and the downstream are queried every poll, during both receivers' runs alike: BIRD
# 2.0's main loop otherwise sleeps up to 3 s in poll() with the last feed batch queued for BGP TX.
# Also printed: "setup" = receiver start -> Established (BGPLite connects at once, bird2 after its
# 1 s connect delay), "total" = receiver start -> downstream complete, receiver CPU seconds
# (utime+stime) and RSS (VmRSS at completion, VmHWM = peak).
#
# Environment:
#   N               IPv4 routes (default 1000000); QUICK=1 -> N=100000
#   N6              IPv6 routes (default 0); `make bench-bgp` also runs N=1000000 N6=200000
#   POLL            poll interval in seconds (default 0.1)
#   TIMEOUT         seconds to wait for the downstream per receiver (default 600)
#   REPEAT          runs per receiver, interleaved; medians are reported (default 3)
#   RECEIVERS       subset/order, default "bgplite bird"
#   TINCD_SWIFT_BIN default <repo>/.build/release/tincd-swift (a private copy is run)
#   BIRD_BIN, BIRDC_BIN  default /usr/sbin/bird, /usr/sbin/birdc
#   TRACE=1         print every poll (time since receiver start, downstream route count)
#   PERF_DIR=DIR    profile each receiver during its load: perf record -g into DIR/perf-<receiver>.data
#   KEEP=1          keep the work directory (configs, logs); kept anyway on failure
# Needs root, iproute2, bird2.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then N=${N:-100000}; else N=${N:-1000000}; fi
N6=${N6:-0}
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
[[ "$N6" =~ ^[0-9]+$ ]] && [ "$N6" -le 4000000 ] || die "N6 must be 0..4000000"
NT=$((N + N6))

TAG="tbb$$"
NS_S="${TAG}s"
NS_R="${TAG}r"
NS_D="${TAG}d"
ADDR_S=192.0.2.1 ADDR_R=192.0.2.2 ADDR_RD=198.51.100.1 ADDR_D=198.51.100.2
ADDR6_S=2001:db8:1::1 ADDR6_R=2001:db8:1::2 ADDR6_RD=2001:db8:2::1 ADDR6_D=2001:db8:2::2
AS_S=65001 AS_R=65000 AS_D=65002
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

for ns in "$NS_S" "$NS_R" "$NS_D"; do ip netns add "$ns"; CREATED_NS+=("$ns"); done
ip -n "$NS_S" link add eth0 type veth peer name eth0 netns "$NS_R"
ip -n "$NS_R" link add eth1 type veth peer name eth0 netns "$NS_D"
ip -n "$NS_S" addr add "$ADDR_S/24" dev eth0
ip -n "$NS_R" addr add "$ADDR_R/24" dev eth0
ip -n "$NS_R" addr add "$ADDR_RD/24" dev eth1
ip -n "$NS_D" addr add "$ADDR_D/24" dev eth0
ip -n "$NS_S" addr add "$ADDR6_S/64" dev eth0 nodad
ip -n "$NS_R" addr add "$ADDR6_R/64" dev eth0 nodad
ip -n "$NS_R" addr add "$ADDR6_RD/64" dev eth1 nodad
ip -n "$NS_D" addr add "$ADDR6_D/64" dev eth0 nodad
for ns in "$NS_S" "$NS_R" "$NS_D"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done
ip -n "$NS_R" link set eth1 up

# ---------------------------------------------------------------- configs

SDIR="$WORK/sender" DDIR="$WORK/downstream" BDIR="$WORK/bird-rx" LDIR="$WORK/bgplite-rx"
mkdir -p "$SDIR" "$DDIR" "$BDIR" "$LDIR"

# bgp_v6 NAME LOCAL LAS NEIGHBOR NAS CHANNEL [EXTRA]: an IPv6 session block (only when N6 > 0)
bgp_v6() {
    [ "$N6" -gt 0 ] || return 0
    printf 'protocol bgp %s {\n    local %s as %s;\n    neighbor %s as %s;\n%s    ipv6 { %s };\n}\n' "$1" "$2" "$3" "$4" "$5" "${7:-}" "$6"
}
PASSIVE="    passive on;
"

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
    echo "}"
    if [ "$N6" -gt 0 ]; then
        printf 'protocol static bench6 {\n    ipv6;\n'
        awk -v n="$N6" 'BEGIN{ for (i = 0; i < n; i++) printf "    route 2a02:%x:%x::/48 blackhole;\n", int(i / 65536), i % 65536 }'
        echo "}"
    fi
    cat <<EOF
protocol bgp receiver {
    local $ADDR_S as $AS_S;
    neighbor $ADDR_R as $AS_R;
    passive on;
    ipv4 { import none; export all; };
}
EOF
    bgp_v6 receiver6 "$ADDR6_S" "$AS_S" "$ADDR6_R" "$AS_R" "import none; export all;" "$PASSIVE"
} >"$SDIR/bird.conf"
GEN_S=$(fsub "$(now)" "$t")

{
    cat <<EOF
router id $ADDR_D;
timeformat protocol "%T.%3f";
protocol device {}
protocol bgp receiver {
    local $ADDR_D as $AS_D;
    neighbor $ADDR_RD as $AS_R;
    passive on;
    ipv4 { import all; export none; };
}
EOF
    bgp_v6 receiver6 "$ADDR6_D" "$AS_D" "$ADDR6_RD" "$AS_R" "import all; export none;" "$PASSIVE"
} >"$DDIR/bird.conf"

# The receiver's configuration: the same text for bird2 and BGPLite, except bird2's connect delay
# (BIRD's default is 5 s; BGPLite connects at once) and its timeformat line.
receiver_conf() {   # receiver_conf EXTRA
    cat <<EOF
router id $ADDR_R;
protocol device {}
protocol bgp sender {
    local $ADDR_R as $AS_R;
    neighbor $ADDR_S as $AS_S;
$1    ipv4 { import all; export none; };
}
protocol bgp downstream {
    local $ADDR_RD as $AS_R;
    neighbor $ADDR_D as $AS_D;
$1    ipv4 { import none; export all; };
}
EOF
    bgp_v6 sender6 "$ADDR6_R" "$AS_R" "$ADDR6_S" "$AS_S" "import all; export none;" "$1"
    bgp_v6 downstream6 "$ADDR6_RD" "$AS_R" "$ADDR6_D" "$AS_D" "import none; export all;" "$1"
}
{ echo 'timeformat protocol "%T.%3f";'; receiver_conf "    connect delay time 1;
"; } >"$BDIR/bird.conf"
receiver_conf "" >"$LDIR/bgp.conf"

# ---------------------------------------------------------------- sender and downstream

# routes in all tables (the sum of the per-table lines)
bird_total() { birdc_ "$1" "$2" show route count | awk '/routes for .* networks in table/ {s += $1; f = 1} END{print f ? s : 0}'; }

SENDER_PID="" DOWN_PID=""
start_sender() {   # (re)start the sender bird, wait until its table holds N + N6 routes; fresh downstream
    local t0 c i
    if [ -n "$SENDER_PID" ]; then stop_pid "$SENDER_PID"; SENDER_PID=""; fi
    if [ -n "$DOWN_PID" ]; then stop_pid "$DOWN_PID"; DOWN_PID=""; fi
    t0=$(now)
    start_bird "$NS_S" "$SDIR" sender
    SENDER_PID=$BIRD_PID
    start_bird "$NS_D" "$DDIR" downstream
    DOWN_PID=$BIRD_PID
    for i in $(seq 1200); do
        alive_or_die "$SENDER_PID" sender
        c=$(bird_total "$NS_S" "$SDIR/bird.ctl" || echo 0)
        [ "$c" = "$NT" ] && break
        sleep 0.25
    done
    [ "$c" = "$NT" ] || { FAILED=1; die "sender bird did not load $NT routes (has $c)"; }
    alive_or_die "$DOWN_PID" downstream
    SENDER_LOAD_S=$(fsub "$(now)" "$t0")
    SENDER_RSS_KB=$(proc_kb "$SENDER_PID" VmRSS)
}

# ---------------------------------------------------------------- receivers

declare -A R_LOAD R_SETUP R_TOTAL R_RSS R_HWM R_CPU R_OK

# Since column (HH:MM:SS.mmm) of protocol `sender` when it is up/Established, else empty
est_bird() { birdc_ "$NS_R" "$BDIR/bird.ctl" show protocols sender | awk '$1 == "sender" && /Established/ {print $5}'; }
est_bgplite() { awk '$1 == "sender" && $2 == "BGP" && /Established/ {print $5; exit}' "$LDIR/bgp.status" 2>/dev/null || true; }

run_receiver() {   # run_receiver bgplite|bird
    local which=$1 pid perf_pid t_start t_est="" t_end="" est c deadline
    start_sender
    echo "  sender ready: $NT routes loaded in ${SENDER_LOAD_S} s (sender RSS $(kb_to_mb "$SENDER_RSS_KB") MB)" >&2
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
        alive_or_die "$DOWN_PID" downstream
        if [ -z "$t_est" ]; then
            est=$("est_$which" || true)
            [ -z "$est" ] || t_est=$(clock_to_epoch "$est")
        fi
        c=$(bird_total "$NS_D" "$DDIR/bird.ctl" || echo 0)
        if [ "$c" = "$NT" ] && [ -n "$t_est" ]; then t_end=$(now); break; fi
        # Wake the sender each poll (header: BIRD 2.0 can sleep with its last feed batch queued).
        birdc_ "$NS_S" "$SDIR/bird.ctl" show status >/dev/null || true
        [ "$TRACE" != 1 ] || echo "    trace $which: +$(fsub "$(now)" "$t_start") s downstream=$c established=${t_est:+yes}" >&2
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
        echo "  $which: TIMEOUT after $TIMEOUT s with $c of $NT routes downstream" >&2
    fi
    if [ "$which" = bird ]; then birdc_ "$NS_R" "$BDIR/bird.ctl" show memory >"$WORK/bird-rx-memory.txt" || true; fi
    stop_pid "$pid"
}

echo "bgp.sh: N=$N IPv4 /24s + N6=$N6 IPv6 /48s, sender config generated in ${GEN_S} s ($(du -h "$SDIR/bird.conf" | cut -f1)); poll ${POLL} s; $REPEAT run(s) per receiver" >&2
[ -z "${SWIFT_ID:-}" ] || echo "bgp.sh: tincd-swift $SWIFT_ID" >&2
echo "bgp.sh: namespaces $NS_S $NS_R $NS_D; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

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
            echo "  $r: ${R_LOAD[$r]} s after Established (setup ${R_SETUP[$r]} s), RSS $(kb_to_mb "${R_RSS[$r]}") MB, peak $(kb_to_mb "${R_HWM[$r]}") MB, CPU ${R_CPU[$r]} s" >&2
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
stop_pid "$DOWN_PID"

median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
spread() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}'; }

# ---------------------------------------------------------------- report

echo
echo "BGP table transfer with re-advertising: bird2 sender -> receiver -> bird2 downstream, $N IPv4 /24s + $N6 IPv6 /48s (eBGP), no kernel export"
echo "load = receiver Established with the sender -> downstream holds all $NT routes; median of $REPEAT run(s) (range in brackets); birdc poll ${POLL} s"
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
    if [ "$N6" -gt 0 ]; then echo "BGPLite / bird2 (medians; reported, the bars are for the IPv4-only run):"; else echo "BGPLite / bird2 (medians):"; fi
    printf '  load time  %6sx   bar <= 1.0x   %s\n' "$rt" "$(verdict "$rt" 1.0)"
    printf '  RSS final  %6sx   bar <= 1.5x   %s\n' "$rr" "$(verdict "$rr" 1.5)"
    printf '  RSS peak   %6sx   bar <= 1.5x   %s\n' "$rh" "$(verdict "$rh" 1.5)"
    printf '  CPU        %6sx   bar <= 2x     %s\n' "$rc" "$(verdict "$rc" 2)"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (2 shared cores: compare ratios, not absolute times)"
[ "$FAILED" = 0 ]
