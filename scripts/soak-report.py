#!/usr/bin/env python3
"""scripts/soak-report.py OUT -- judges and summarises a soak run (scripts/soak.sh) from its files.

Reads OUT/procs.csv, OUT/events.csv, OUT/failures.txt and the ping logs OUT/ping-*.out; writes
OUT/pings.csv (per minute and flow: sent, lost), OUT/summary.txt (also printed) and OUT/soak.svg (RSS,
open fds and ping loss over time, events marked). Standard library only: the machine has no plotting
package, and an SVG needs none. Exit status 0 when the soak passed (criteria in scripts/soak.sh).
"""
import csv
import os
import re
import sys

RSS_BOUND = 1.10          # last minute <= 110% of the first steady minute
FD_SLACK = (2, 0.10)      # fds: + max(2, 10%)
SLOPE_BOUND = float(os.environ.get("SOAK_SLOPE_BOUND", "10"))  # % of baseline per hour, lives >= 10 min
SAMPLE = float(os.environ.get("SOAK_SAMPLE", "10"))


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def fit_slope(points):
    """Least-squares slope of (x, y) points; None with fewer than 3."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2] if s else None


def read_pings(out, t0_ms, windows):
    """Per flow: {minute: [sent, lost]} from `ping -D -O` logs (a seq is lost when it never got a reply),
    and per flow the lost seqs sent outside every event window (t in seconds since the start)."""
    flows, unexpected = {}, {}
    for name in sorted(os.listdir(out)):
        m = re.match(r"ping-(.+)\.out$", name)
        if not m:
            continue
        seen, replied = {}, set()
        with open(os.path.join(out, name), errors="replace") as f:
            for line in f:
                mm = re.match(r"\[(\d+\.\d+)\] (.*)", line)
                if not mm:
                    continue
                ts, rest = float(mm.group(1)), mm.group(2)
                sq = re.search(r"icmp_seq=(\d+)", rest)
                if not sq:
                    continue
                seq = int(sq.group(1))
                seen.setdefault(seq, ts)
                if " bytes from " in rest:
                    replied.add(seq)
        per = {}
        outside = []
        for seq, ts in seen.items():
            t = ts - t0_ms / 1000.0
            minute = int(t // 60)
            if minute < 0:
                continue
            e = per.setdefault(minute, [0, 0])
            e[0] += 1
            if seq not in replied:
                e[1] += 1
                if not any(a <= t <= b for a, b in windows):
                    outside.append(round(t, 1))
        flows[m.group(1)] = per
        unexpected[m.group(1)] = sorted(outside)
    return flows, unexpected


def svg_plot(path, series_rss, series_fd, flows, events, minutes):
    w, left, right, ph, gap, top = 1000, 70, 150, 200, 50, 30
    panels = [("RSS (MiB)", series_rss), ("open fds", series_fd), ("ping loss per minute (%)", None)]
    h = top + len(panels) * (ph + gap)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    nodes = sorted({k[0] for k in series_rss} | {k[0] for k in series_fd})
    color = {n: colors[i % len(colors)] for i, n in enumerate(nodes)}
    xmax = max(minutes, 1)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{left}" y="18" font-size="13">tincd-swift soak: {minutes:.0f} min, one sample per daemon every {SAMPLE:.0f} s '
         '(red: node restart, blue: ISP withdraw, grey: reload)</text>']
    pw = w - left - right

    def X(t):
        return left + pw * (t / 60.0) / xmax

    for i, (title, series) in enumerate(panels):
        y0 = top + i * (ph + gap) + 10
        if series is not None:
            vals = [v for pts in series.values() for _, v in pts]
        else:
            vals = [100.0 * l / s for per in flows.values() for s, l in per.values() if s]
        ymax = max(vals + [1.0]) * 1.1

        def Y(v, y0=y0, ymax=ymax):
            return y0 + ph - ph * v / ymax

        o.append(f'<rect x="{left}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
        o.append(f'<text x="{left}" y="{y0 - 4}">{title}</text>')
        for k in range(5):
            v = ymax * k / 4
            o.append(f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
            o.append(f'<line x1="{left}" x2="{left + pw}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eee"/>')
        step = max(1, int(xmax // 10))
        for mnt in range(0, int(xmax) + 1, step):
            o.append(f'<text x="{X(mnt * 60):.1f}" y="{y0 + ph + 14}" text-anchor="middle">{mnt}</text>')
        o.append(f'<text x="{left + pw / 2}" y="{y0 + ph + 28}" text-anchor="middle">minutes</text>')
        for t, kind in events:
            c = {"restart": "#d62728", "isp-withdraw": "#1f77b4", "reload": "#aaaaaa"}.get(kind)
            if c:
                o.append(f'<line x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{y0}" y2="{y0 + ph}" stroke="{c}" stroke-dasharray="3,3"/>')
        if series is not None:
            for (node, pid), pts in sorted(series.items()):
                d = " ".join(f"{X(t):.1f},{Y(v):.1f}" for t, v in pts)
                o.append(f'<polyline fill="none" stroke="{color[node]}" stroke-width="1.5" points="{d}"/>')
            for j, node in enumerate(nodes):
                o.append(f'<text x="{left + pw + 10}" y="{y0 + 14 + 14 * j}" fill="{color[node]}">{node}</text>')
        else:
            for j, (flow, per) in enumerate(sorted(flows.items())):
                c = colors[(j + 3) % len(colors)]
                d = " ".join(f"{X(m * 60 + 30):.1f},{Y(100.0 * l / s if s else 0):.1f}" for m, (s, l) in sorted(per.items()))
                o.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{d}"/>')
                o.append(f'<text x="{left + pw + 10}" y="{y0 + 14 + 14 * j}" fill="{c}">{flow}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def gnuplot_png(out, series_rss, series_fd, flows, events, minutes):
    """soak.png through gnuplot when it is installed (`make soak` installs gnuplot-nox); the data files
    and the script stay in OUT/plot/ so the plot can be redrawn."""
    import shutil
    import subprocess
    if not shutil.which("gnuplot"):
        return "no gnuplot: soak.png not drawn (apt-get install gnuplot-nox; soak.svg has the same plot)"
    d = os.path.join(out, "plot")
    os.makedirs(d, exist_ok=True)
    nodes = sorted({k[0] for k in series_rss})
    for node in nodes:
        with open(os.path.join(d, f"proc-{node}.dat"), "w") as f:
            for (n, pid), pts in sorted(series_rss.items(), key=lambda kv: kv[1][0][0] if kv[1] else 0):
                if n != node:
                    continue
                fds = dict(series_fd.get((n, pid), []))
                for t, v in pts:
                    f.write(f"{t / 60.0:.3f} {v:.2f} {fds.get(t, 0)}\n")
                f.write("\n")   # a new process of the same node: the line breaks
    for flow, per in flows.items():
        with open(os.path.join(d, f"ping-{flow}.dat"), "w") as f:
            for m, (sent, lost) in sorted(per.items()):
                f.write(f"{m + 0.5} {100.0 * lost / sent if sent else 0:.2f}\n")
    arrows = []
    colors = {"restart": "#d62728", "isp-withdraw": "#1f77b4", "reload": "#aaaaaa"}
    for t, kind in events:
        c = colors.get(kind)
        if c:
            arrows.append(f'set arrow from {t / 60.0:.3f}, graph 0 to {t / 60.0:.3f}, graph 1 nohead lc rgb "{c}" dt 2')
    def plot(col, files):
        return "plot " + ", ".join(f'"{f}" using 1:{col} with lines lw 2 title "{t}"' for f, t in files)
    procs = [(os.path.join(d, f"proc-{n}.dat"), n) for n in nodes]
    pings = [(os.path.join(d, f"ping-{fl}.dat"), fl) for fl in sorted(flows)]
    gp = [
        'set terminal pngcairo size 1200,1000 noenhanced' if _has_cairo() else 'set terminal png size 1200,1000 noenhanced',
        f'set output "{os.path.join(out, "soak.png")}"',
        f'set multiplot layout 3,1 title "tincd-swift soak: {minutes:.0f} min (dashed: red restart, blue ISP withdraw, grey reload)"',
        f"set xrange [0:{max(minutes, 1):.2f}]", "set xlabel \"minutes\"", "set key outside right", "set grid",
        *arrows,
        'set ylabel "RSS (MiB)"', plot(2, procs),
        'set ylabel "open fds"', plot(3, procs),
        'set ylabel "ping loss per minute (%)"', plot(2, pings) if pings else "plot 0 notitle",
        "unset multiplot",
    ]
    with open(os.path.join(d, "soak.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", os.path.join(d, "soak.gp")], capture_output=True, text=True, timeout=60)
    return "soak.png drawn" if r.returncode == 0 else f"gnuplot failed: {r.stderr.strip()[:300]}"


def _has_cairo():
    import subprocess
    try:
        r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True, timeout=20)
        return "pngcairo" in (r.stdout + r.stderr)
    except (OSError, subprocess.SubprocessError):
        return False


def main():
    if len(sys.argv) != 2:
        print("usage: soak-report.py OUT", file=sys.stderr)
        return 2
    out = sys.argv[1]
    with open(os.path.join(out, "t0")) as f:
        t0_ms = int(f.read().strip())
    rows = list(csv.DictReader(open(os.path.join(out, "procs.csv"))))
    events = list(csv.DictReader(open(os.path.join(out, "events.csv"))))
    failures = []
    if os.path.exists(os.path.join(out, "failures.txt")):
        failures = [l.strip() for l in open(os.path.join(out, "failures.txt")) if l.strip()]
    end_t = max([num(e["t_s"]) or 0 for e in events] + [num(r["t_s"]) or 0 for r in rows] + [0])
    minutes = end_t / 60.0
    lines = []
    say = lines.append

    # windows in which flaps and lost pings are expected: from an event's beginning to one sample
    # after its recovery was recorded
    windows, marks = [], []
    for e in events:
        t, b = num(e["t_s"]), num(e["begin_s"])
        if t is None or b is None or e["kind"] not in ("restart", "reload", "isp-announce", "isp-withdraw"):
            continue
        windows.append((b - 1, t + SAMPLE + 1))
        if e["kind"] in ("restart", "isp-withdraw", "reload"):
            marks.append((b, e["kind"]))

    def in_window(t):
        return any(a <= t <= b for a, b in windows)

    # per process
    procs = {}
    for r in rows:
        procs.setdefault((r["node"], r["pid"]), []).append(r)
    deaths = [f'{r["node"]} pid {r["pid"]} gone at {r["t_s"]} s' for r in rows if r["alive"] == "0" and r["planned"] != "1"]
    flaps_total = sum(int(r["flaps"]) for r in rows if r["flaps"] not in ("-", ""))
    flaps_unplanned = [(r["t_s"], r["node"], r["flaps"]) for r in rows
                       if r["flaps"] not in ("-", "", "0") and not in_window(num(r["t_s"]) or 0)]

    series_rss, series_fd = {}, {}
    splits = []
    say(f"soak: {minutes:.1f} minutes, {len(rows)} samples of {len(procs)} processes (one every {SAMPLE:.0f} s per daemon)")
    say("")
    say("per process (baseline = its first steady minute, the second minute of its life; end = its last minute)")
    say(f'  {"node":7} {"pid":>7} {"life":>6} {"RSS base":>9} {"RSS end":>8} {"RSS max":>8} {"growth":>7} {"slope":>11} {"late slope":>11} '
        f'{"fds base/end/max":>16} {"thr":>4} {"cpu s":>7}  verdict')
    for (node, pid), rs in sorted(procs.items(), key=lambda kv: (kv[0][0], num(kv[1][0]["t_s"]))):
        live = [r for r in rs if r["alive"] == "1" and r["rss_kib"] != "-"]
        if not live:
            continue
        ts = [num(r["t_s"]) for r in live]
        start, last = ts[0], ts[-1]
        series_rss[(node, pid)] = [(num(r["t_s"]), int(r["rss_kib"]) / 1024.0) for r in live]
        series_fd[(node, pid)] = [(num(r["t_s"]), int(r["fds"])) for r in live]
        base = [r for r in live if 60 <= num(r["t_s"]) - start < 120]
        endw = [r for r in live if num(r["t_s"]) >= max(last - 60, start + 120)]
        life = last - start
        rss_max = max(int(r["rss_kib"]) for r in live)
        fd_max = max(int(r["fds"]) for r in live)
        thr = live[-1]["threads"]
        anon = [(r.get("rss_anon_kib") or "-", r.get("rss_file_kib") or "-") for r in (base[:1] + endw[-1:])] if base and endw else []
        if len(anon) == 2 and "-" not in anon[0] + anon[1]:
            splits.append(f"  {node:7} {pid:>7}  anon {int(anon[0][0]) / 1024:.1f}M -> {int(anon[1][0]) / 1024:.1f}M, "
                          f"file {int(anon[0][1]) / 1024:.1f}M -> {int(anon[1][1]) / 1024:.1f}M")
        cpu = live[-1]["cpu_s"]
        slope = fit_slope([(num(r["t_s"]) / 60.0, int(r["rss_kib"])) for r in live if num(r["t_s"]) - start >= 60])
        # the second half of its life: growth that goes on after the warm-up (allocator high-water
        # marks after the first bursts flatten out; a leak keeps its slope)
        late = fit_slope([(num(r["t_s"]) / 60.0, int(r["rss_kib"])) for r in live if num(r["t_s"]) >= start + (last - start) / 2])
        verdict = "not judged (lived < 3 min)"
        growth_s, b_rss, e_rss, b_fd, e_fd = "-", None, None, None, None
        if base and endw:
            b_rss = median([int(r["rss_kib"]) for r in base])
            e_rss = median([int(r["rss_kib"]) for r in endw])
            b_fd = median([int(r["fds"]) for r in base])
            e_fd = median([int(r["fds"]) for r in endw])
            growth_s = f"{100.0 * (e_rss - b_rss) / b_rss:+.1f}%"
            if node == "isp":
                verdict = "reference (bird2, not judged)"
            else:
                bad = []
                if e_rss > RSS_BOUND * b_rss:
                    bad.append(f"RSS {e_rss} KiB > {RSS_BOUND:.2f} x {b_rss} KiB")
                if e_fd > b_fd + max(FD_SLACK[0], FD_SLACK[1] * b_fd):
                    bad.append(f"fds {e_fd} > {b_fd} + max(2, 10%)")
                if life >= 600 and late is not None and late * 60 > SLOPE_BOUND / 100.0 * b_rss:
                    bad.append(f"RSS slope over the second half of its life {late:.1f} KiB/min > {SLOPE_BOUND:.0f}% of baseline per hour")
                verdict = "ok" if not bad else "FAIL: " + "; ".join(bad)
                failures += [f"{node} pid {pid}: {b}" for b in bad]
        fmt = lambda k: f"{k / 1024.0:.1f}M" if k is not None else "-"
        say(f'  {node:7} {pid:>7} {life / 60:5.1f}m {fmt(b_rss):>9} {fmt(e_rss):>8} {fmt(rss_max):>8} {growth_s:>7} '
            f'{(f"{slope:+.1f}KiB/m" if slope is not None else "-"):>11} {(f"{late:+.1f}KiB/m" if late is not None and life >= 600 else "-"):>11} '
            f'{(f"{b_fd}/{e_fd}/{fd_max}" if b_fd is not None else f"-/-/{fd_max}"):>16} {thr:>4} {cpu:>7}  {verdict}')

    if splits:
        say("RSS split, first steady minute -> last minute (anonymous: heap and buffers; file: code paged in)")
        lines.extend(splits)
    # events
    say("")
    say("events (recovery = until every node reaches every other, all sessions Established, no route missing)")
    kinds = {}
    for e in events:
        if e["kind"] in ("start", "end"):
            continue
        kinds.setdefault(e["kind"], []).append(e)
    for kind, es in kinds.items():
        rec = sorted(num(e["recovery_ms"]) for e in es if num(e["recovery_ms"]) is not None)
        bad = [e for e in es if e["result"] != "ok"]
        fig = f"median {rec[len(rec) // 2]:.0f} ms, max {rec[-1]:.0f} ms" if rec else "-"
        say(f"  {kind:13} x{len(es):<3} {fig}{'' if not bad else ', NOT recovered: ' + str(len(bad))}")

    # pings and flaps
    flows, unexpected = read_pings(out, t0_ms, windows)
    with open(os.path.join(out, "pings.csv"), "w") as f:
        f.write("minute,flow,sent,lost\n")
        for flow, per in sorted(flows.items()):
            for m, (s, l) in sorted(per.items()):
                f.write(f"{m},{flow},{s},{l}\n")
    say("")
    say("pings every 0.2 s (lost = never answered)")
    for flow, per in sorted(flows.items()):
        s = sum(v[0] for v in per.values())
        l = sum(v[1] for v in per.values())
        worst = max(per.items(), key=lambda kv: kv[1][1], default=(0, [0, 0]))
        clean = sum(1 for v in per.values() if v[1] == 0)
        u = unexpected.get(flow, [])
        say(f"  {flow:14} sent {s}, lost {l} ({100.0 * l / s if s else 0:.2f}%), minutes without loss {clean}/{len(per)}, "
            f"worst minute {worst[0]}: {worst[1][1]} lost; lost outside restart/reload/ISP events: {len(u)}"
            + (f" (at {', '.join(str(x) + ' s' for x in u[:8])}{' ...' if len(u) > 8 else ''})" if u else ""))
    runs, lost_dg, total_dg, mbits = 0, 0, 0, []
    p = os.path.join(out, "iperf3-client.out")
    if os.path.exists(p):
        for line in open(p, errors="replace"):
            # "[  5]   0.00-60.00  sec   143 MBytes  20.0 Mbits/sec  0.017 ms  12/115384 (0.01%)  receiver"
            mm = re.search(r"([\d.]+) Mbits/sec\s+[\d.]+ ms\s+(\d+)/(\d+) \([^)]*\)\s+receiver", line)
            if mm:
                runs += 1
                mbits.append(float(mm.group(1)))
                lost_dg += int(mm.group(2))
                total_dg += int(mm.group(3))
    say(f"  iperf3 UDP bird1 -> bird2: {runs} runs of 60 s completed, received {median(mbits) or 0:.1f} Mbit/s (median), "
        f"datagrams lost {lost_dg} of {total_dg} ({100.0 * lost_dg / total_dg if total_dg else 0:.3f}%)")
    say("")
    say(f"BGP sessions re-established or lost between samples: {flaps_total} in total, "
        f"{len(flaps_unplanned)} samples with flaps outside a restart/reload/ISP event"
        + (": " + ", ".join(f"{n}@{t}s x{c}" for t, n, c in flaps_unplanned[:10]) if flaps_unplanned else ""))
    routes = {}
    for r in rows:
        if r["routes"] not in ("-", ""):
            routes.setdefault(r["node"], []).append(int(r["routes"]))
    say("BGP routes per node (min/max over samples): " + ", ".join(f"{n} {min(v)}/{max(v)}" for n, v in sorted(routes.items())))

    failures += deaths
    say("")
    if failures:
        say("SOAK FAILED:")
        for fl in failures:
            say("  " + fl)
    else:
        say(f"SOAK PASSED: no daemon died, every recovery complete, RSS and fds within bounds ({len(procs)} processes)")
    svg_plot(os.path.join(out, "soak.svg"), series_rss, series_fd, flows, marks, minutes)
    say(gnuplot_png(out, series_rss, series_fd, flows, marks, minutes))
    say(f"files: {out}/procs.csv pings.csv events.csv summary.txt soak.svg soak.png")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
