#!/usr/bin/env python3
"""Figures from the bench scripts' TSV files: medians over rounds as SVGs.

    python3 scripts/plot.py [--results target/bench-results] [--out docs/bench] [--format png]

Reads whichever of these exist (the scripts write NAME-DATE.tsv and point
NAME.tsv at the latest):

- http.tsv (scripts/bench_http.sh): http_throughput.svg (req/s and server
  CPU per request per contender, one row per closed-loop scenario) and
  http_p99_vs_load.svg (p99 latency against offered load, from the paced_R
  scenarios).
- echo_indep.tsv (scripts/bench_echo_indep.sh): echo_generators.svg
  (throughput and server CPU per message per contender, by each load
  generator, with each generator's own CPU use).
- proxy.tsv (scripts/bench_proxy.sh): proxy.svg (MiB/s and proxy CPU per MiB).

Needs matplotlib (pip install matplotlib, or apt-get install python3-matplotlib).
"""

import argparse
import csv
import math
import os
import statistics
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Text stays text, and the same input gives the same file.
plt.rcParams["svg.fonttype"] = "none"
plt.rcParams["svg.hashsalt"] = "netloop-bench"
plt.rcParams["font.size"] = 9
COLORS = {
    "netloop": "#1f77b4",
    "echo": "#1f77b4",
    "tokio": "#ff7f0e",
    "may_minihttp": "#2ca02c",
    "hyper": "#e377c2",
    "nginx": "#9467bd",
    "mio": "#8c564b",
    "haproxy": "#d62728",
}


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def med(rows, key):
    vals = [num(r[key]) for r in rows if not math.isnan(num(r[key]))]
    return statistics.median(vals) if vals else math.nan


PREFERRED = ["netloop", "echo", "tokio", "mio", "may_minihttp", "hyper", "nginx", "haproxy"]


def ordered(values):
    """Distinct values in order of appearance, known contenders first."""
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return sorted(seen, key=lambda v: PREFERRED.index(v) if v in PREFERRED else len(PREFERRED))


FORMAT = "svg"


def save(fig, out, name):
    path = os.path.join(out, name.replace(".svg", "." + FORMAT))
    fig.tight_layout()
    if FORMAT == "svg":
        fig.savefig(path, format="svg", metadata={"Date": None})
    else:
        fig.savefig(path, format=FORMAT, dpi=80)
    plt.close(fig)
    print(path)


def bars(ax, groups, series, value, ylabel, title, fmt="{:.0f}"):
    """Grouped bars: one group per entry of groups, one bar per series."""
    width = 0.8 / max(len(series), 1)
    for i, s in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ys = [value(g, s) for g in groups]
        b = ax.bar(xs, ys, width, label=s, color=COLORS.get(s))
        for x, y in zip(xs, ys):
            if not math.isnan(y):
                ax.annotate(fmt.format(y), (x, y), ha="center", va="bottom", fontsize=7)
        del b
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.margins(y=0.15)


def http(path, out):
    rows = read(path)
    by = defaultdict(list)
    for r in rows:
        by[(r["scenario"], r["contender"])].append(r)
    contenders = ordered(r["contender"] for r in rows)
    closed = [s for s in ordered(r["scenario"] for r in rows) if not s.startswith("paced_")]
    paced = sorted({s for s in (r["scenario"] for r in rows) if s.startswith("paced_")},
                   key=lambda s: int(s.split("_")[1]))
    rounds = len({r["round"] for r in rows})
    if closed:
        # One row per scenario, so that each gets its own scale.
        fig, axes = plt.subplots(len(closed), 2, figsize=(9, 2.6 * len(closed)), squeeze=False)
        for i, sc in enumerate(closed):
            gen = "tools/loadgen-indep" if sc.startswith("indep_") else "wrk -t1"
            bars(axes[i][0], [sc], contenders, lambda g, s: med(by[(g, s)], "req_per_sec"),
                 "requests/s (median)", f"{sc} ({gen}): req/s", "{:,.0f}")
            bars(axes[i][1], [sc], contenders, lambda g, s: med(by[(g, s)], "cpu_us_per_req"),
                 "server CPU µs per request", f"{sc}: server CPU per request", "{:.2f}")
            for ax in axes[i]:
                ax.set_xticks([])
        axes[0][0].legend(fontsize=7, loc="lower left")
        fig.suptitle(f"HTTP /plaintext, one core per server, the load generator on the other ({rounds} rounds; "
                     "req/s: higher is better, CPU: lower)",
                     fontsize=9)
        save(fig, out, "http_throughput.svg")
    if paced:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        rates = [int(s.split("_")[1]) for s in paced]
        for c in contenders:
            p99 = [med(by[(s, c)], "p99_us") / 1e3 for s in paced]
            got = [med(by[(s, c)], "req_per_sec") for s in paced]
            axes[0].plot(rates, p99, marker="o", label=c, color=COLORS.get(c))
            axes[1].plot(rates, got, marker="o", label=c, color=COLORS.get(c))
        axes[1].plot(rates, rates, ls=":", color="grey", label="offered")
        axes[0].set_yscale("log")
        axes[0].set_xlabel("offered load, requests/s (100 conns)")
        axes[0].set_ylabel("p99 latency, ms (median over rounds)")
        axes[0].set_title("p99 latency against offered load")
        axes[1].set_xlabel("offered load, requests/s")
        axes[1].set_ylabel("achieved requests/s")
        axes[1].set_title("Achieved against offered")
        axes[0].legend(fontsize=7)
        fig.suptitle("HTTP /plaintext, paced by tools/loadgen-indep (latency from when each request was due)",
                     fontsize=9)
        save(fig, out, "http_p99_vs_load.svg")


def echo(path, out):
    rows = read(path)
    by = defaultdict(list)
    for r in rows:
        by[(r["scenario"], r["generator"], r["contender"])].append(r)
    contenders = ordered(r["contender"] for r in rows)
    scenarios = ordered(r["scenario"] for r in rows)
    gens = ordered(r["generator"] for r in rows)
    names = {"proj": "project's pingpong", "indep": "loadgen-indep"}
    fig, axes = plt.subplots(len(scenarios), 2, figsize=(9, 3.2 * len(scenarios)), squeeze=False)
    for i, sc in enumerate(scenarios):
        key = "mib_per_sec" if sc.startswith("bulk") else "msgs_per_sec"
        unit = "MiB/s" if sc.startswith("bulk") else "messages/s"
        groups = [names.get(g, g) for g in gens]
        back = dict(zip(groups, gens))
        bars(axes[i][0], groups, contenders, lambda g, c: med(by[(sc, back[g], c)], key),
             f"{unit} (median)", f"{sc}: throughput by generator")
        bars(axes[i][1], groups, contenders,
             lambda g, c: med(by[(sc, back[g], c)], "server_cpu_ns_per_msg") / 1e3,
             "server CPU µs per message", f"{sc}: CPU per message", "{:.1f}")
        gen_cpu = ", ".join(
            f"{names.get(g, g)} {statistics.median([med(by[(sc, g, c)], 'gen_cpu_util') for c in contenders]):.2f}"
            for g in gens)
        axes[i][0].text(0.01, 0.97, f"generator CPU (cores): {gen_cpu}", transform=axes[i][0].transAxes,
                        va="top", fontsize=7)
        axes[i][0].legend(fontsize=7, loc="lower right")
    save(fig, out, "echo_generators.svg")


def proxy(path, out):
    rows = read(path)
    by = defaultdict(list)
    for r in rows:
        by[r["contender"]].append(r)
    contenders = ordered(r["contender"] for r in rows)
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
    bars(axes[0], ["bulk 10 × 64 KiB"], contenders, lambda g, c: med(by[c], "mib_per_sec"),
         "MiB/s through the proxy (median)", "Throughput (higher is better)")
    bars(axes[1], ["bulk 10 × 64 KiB"], contenders, lambda g, c: med(by[c], "cpu_ms_per_mib"),
         "proxy CPU ms per MiB", "CPU per MiB (lower is better)", "{:.2f}")
    axes[0].legend(fontsize=7)
    save(fig, out, "proxy.svg")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="target/bench-results")
    ap.add_argument("--out", default="docs/bench")
    ap.add_argument("--format", default="svg", help="svg (default) or png, for a quick look")
    a = ap.parse_args()
    global FORMAT
    FORMAT = a.format
    os.makedirs(a.out, exist_ok=True)
    for name, fn in (("http.tsv", http), ("echo_indep.tsv", echo), ("proxy.tsv", proxy)):
        p = os.path.join(a.results, name)
        if os.path.exists(p):
            fn(p, a.out)
        else:
            print(f"{p}: missing, skipped")


if __name__ == "__main__":
    main()
