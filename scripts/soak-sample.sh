#!/usr/bin/env bash
# scripts/soak-sample.sh OUT INTERVAL -- the soak's sampler (started and stopped by scripts/soak.sh).
# Every INTERVAL s, for every process the lab recorded (lab-run/pids: the five tincd-swift daemons and the
# ISP's bird), appends to OUT/procs.csv:
#   t_s       seconds since the soak started (OUT/t0 holds its epoch ms)
#   alive     1, or 0 when the recorded pid is gone (a death unless OUT/restarting names that node)
#   rss_kib fds threads cpu_s     from /proc/PID/status, /proc/PID/fd, /proc/PID/stat
#   rss_anon_kib rss_file_kib     RSS split: anonymous memory (heap, buffers: where a leak shows) and
#                                 file pages (code and libraries paged in as new paths run)
#   established routes reachable  BGP sessions Established, prefixes in its BGP table, nodes its tinc
#                                 daemon reaches (itself included); mesh nodes only (ISP: -)
#   flaps     sessions of this process that were Established at the previous sample and are now down or
#             Established again with another "since" (a session that went down in between)
#   planned   1 when OUT/restarting names this node (a restart or reload in progress: flaps expected)
set -uo pipefail
# shellcheck source=scripts/lab-lib.sh
. "$(dirname "$0")/lab-lib.sh"
OUT=$1
INTERVAL=${2:-10}
lab_load || exit 1
T0=$(cat "$OUT/t0")
HZ=$(getconf CLK_TCK)
CSV=$OUT/procs.csv
[ -s "$CSV" ] || echo "t_s,node,pid,alive,rss_kib,fds,threads,cpu_s,established,routes,reachable,flaps,planned,rss_anon_kib,rss_file_kib" > "$CSV"
declare -A PREV   # "node pid" -> "session since" lines of the previous sample

sample_one() { # NAME PID T
  local name=$1 pid=$2 t=$3 alive=1 rss=- fds=- thr=- cpu=- est=- routes=- reach=- flaps=- planned=0 cur anon=- file=-
  grep -qw "$name" "$OUT/restarting" 2>/dev/null && planned=1
  if [ -r "/proc/$pid/status" ] && pid_alive "$name" "$pid"; then
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    thr=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
    anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status")
    file=$(awk '/^RssFile:/ { print $2 }' "/proc/$pid/status")
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    # fields 14 and 15 of /proc/PID/stat (utime, stime) counted after the ")" that ends the command name
    cpu=$(sed 's/.*) //' "/proc/$pid/stat" | awk -v hz="$HZ" '{ printf "%.2f", ($12 + $13) / hz }')
  else
    alive=0
  fi
  if [ "$alive" = 1 ] && [ "$name" != isp ]; then
    cur=$(ctl "$name" show protocols 2>/dev/null | bgp_protocols | awk '$4 == "Established" { print $1, $3 }')
    est=$(grep -c . <<< "$cur")
    routes=$(ctl "$name" show route 2>/dev/null | route_lines | awk '{ print $1 }' | sort -u | grep -c .)
    reach=$(ctl "$name" dump nodes 2>/dev/null | awk 'NR > 1 && ($2 == "reachable" || $2 == "myself")' | wc -l)
    if [ -n "${PREV["$name $pid"]+x}" ]; then
      # sessions established before and not with the same since now
      flaps=$(comm -23 <(sort <<< "${PREV["$name $pid"]}" | grep .) <(sort <<< "$cur" | grep .) | grep -c .)
    else
      flaps=0
    fi
    PREV["$name $pid"]=$cur
  fi
  echo "$t,$name,$pid,$alive,$rss,$fds,$thr,$cpu,$est,$routes,$reach,$flaps,$planned,$anon,$file" >> "$CSV"
}

next=$(now_ms)
while :; do
  t=$(awk -v ms=$(( $(now_ms) - T0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
  while read -r name pid; do
    [ -n "$pid" ] && sample_one "$name" "$pid" "$t"
  done < "$LAB_RUN/pids"
  next=$((next + INTERVAL * 1000))
  wait_ms=$((next - $(now_ms)))
  [ "$wait_ms" -gt 0 ] && sleep "$(awk -v m="$wait_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
done
