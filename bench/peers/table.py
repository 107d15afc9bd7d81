#!/usr/bin/env python3
"""Collects the medians of `run.sh` and prints the comparison table (markdown). Standard library only.

    table.py collect-ours CRITERION_DIR THREADS MALLOC BENCH_LOG >> ours.jsonl
    table.py render OURS.jsonl PEERS.jsonl

`collect-ours` reads `CRITERION_DIR/peers/<workload>/<size>/new/estimates.json` (criterion's
median, `median.point_estimate`, in ns) and the `peers-value` lines of the bench's output.
"""

import json
import os
import sys

OURS = [
    # (our id, the peers' id it is compared with, goal)
    ("phase_value/256", "phase_value/256", None),
    ("phase_grad/256", "phase_grad/256", "grad"),
    ("phase_value/1024", "phase_value/1024", None),
    ("phase_grad/1024", "phase_grad/1024", "grad"),
    ("gp_grad/65536", "gp_grad/65536", "grad"),
    ("scalar_dual/100000", "scalar_grad/100000", "scalar"),
    ("scalar_dual_lanes/100000", "scalar_grad/100000", "scalar"),
    ("scalar_array/100000", "scalar_grad/100000", "scalar"),
    ("scalar_tape/100000", "scalar_grad/100000", "scalar"),
    ("scalar_tape_one/100000", "scalar_grad/100000", "scalar"),
]

# The loss each of our ids reports (`peers-value` lines), and the peers' workload with that loss.
VALUES = [
    ("phase/256", "phase_value/256"),
    ("phase/1024", "phase_value/1024"),
    ("gp/65536", "gp_grad/65536"),
    ("scalar/100000", "scalar_grad/100000"),
]


def collect_ours(criterion_dir, threads, malloc, log):
    for ours, _, _ in OURS:
        path = os.path.join(criterion_dir, "peers", *ours.split("/"), "new", "estimates.json")
        try:
            with open(path) as f:
                est = json.load(f)
        except FileNotFoundError:
            continue
        print(json.dumps({"lib": "ours", "threads": threads, "malloc": malloc, "workload": ours,
                          "median_ns": est["median"]["point_estimate"]}))
    with open(log) as f:
        for line in f:
            if line.startswith("peers-value "):
                _, name, value = line.split()
                print(json.dumps({"lib": "ours", "threads": threads, "value_of": name,
                                  "loss": float(value)}))


def fmt_time(ns):
    if ns is None:
        return "–"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            v = ns / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{ns:.0f} ns"


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}"


def load(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def render(ours_path, peers_path):
    rows = load([ours_path, peers_path])
    times = {}  # (lib, malloc, threads, workload) -> ns
    faults = {}
    losses = {}  # (lib, name) -> loss
    for r in rows:
        if "median_ns" in r:
            key = (r["lib"], r.get("malloc", "default"), r["threads"], r["workload"])
            times[key] = r["median_ns"]
            if "minflt_per_call" in r:
                faults[key] = r["minflt_per_call"]
            if r["lib"] != "ours" and "loss" in r:
                losses.setdefault((r["lib"], r["workload"]), r["loss"])
        elif "value_of" in r:
            losses.setdefault(("ours", r["value_of"]), r["loss"])
    threads = sorted({k[2] for k in times})
    out = []
    w = out.append
    w("| workload | threads | ours | ours, tuned malloc | JAX | JAX, tuned malloc | PyTorch | "
      "PyTorch, tuned malloc | ours / JAX best | ours / PyTorch best | goal |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for t in threads:
        scalar_best = min((times.get(("ours", "default", t, o)) for o, _, g in OURS
                           if g == "scalar" and times.get(("ours", "default", t, o))),
                          default=None)
        for ours, peer, goal in OURS:
            o = times.get(("ours", "default", t, ours))
            ot = times.get(("ours", "tuned", t, ours))
            jd, jt = (times.get(("jax", m, t, peer)) for m in ("default", "tuned"))
            pd, pt = (times.get(("torch", m, t, peer)) for m in ("default", "tuned"))
            jb = min((x for x in (jd, jt) if x), default=None)
            pb = min((x for x in (pd, pt) if x), default=None)
            rj = o / jb if o and jb else None
            rp = o / pb if o and pb else None
            if goal == "grad" and rj is not None and rp is not None:
                met = "met" if rj <= 1.0 and rp <= 0.5 else "missed"
                verdict = f"{met} (≤ 1 and ≤ 0.5)"
            elif goal == "scalar" and o == scalar_best and rj is not None:
                verdict = ("met" if rj <= 1.0 else "missed") + " (our best ≤ 1 × JAX)"
            else:
                verdict = ""
            w(f"| `{ours}` | {t} | {fmt_time(o)} | {fmt_time(ot)} | {fmt_time(jd)} | {fmt_time(jt)} | "
              f"{fmt_time(pd)} | {fmt_time(pt)} | {fmt_ratio(rj)} | {fmt_ratio(rp)} | {verdict} |")
    w("")
    w("Peers' minor page faults per call (default malloc → tuned malloc):")
    w("")
    w("| workload | threads | JAX | PyTorch |")
    w("|---|---|---|---|")
    peer_ids = sorted({k[3] for k in faults}, key=lambda s: [p for _, p, _ in OURS].index(s))
    for t in threads:
        for wl in peer_ids:
            cells = []
            for lib in ("jax", "torch"):
                d, u = faults.get((lib, "default", t, wl)), faults.get((lib, "tuned", t, wl))
                cells.append(f"{d:.0f} → {u:.0f}" if d is not None and u is not None else "–")
            w(f"| `{wl}` | {t} | {cells[0]} | {cells[1]} |")
    w("")
    w("Loss values at the same data (ours: `peers-value` lines of the bench):")
    w("")
    w("| loss | ours | JAX | PyTorch | max rel. diff |")
    w("|---|---|---|---|---|")
    for name, peer in VALUES:
        vals = [losses.get(("ours", name)), losses.get(("jax", peer)), losses.get(("torch", peer))]
        have = [v for v in vals if v is not None]
        diff = (max(have) - min(have)) / abs(have[0]) if len(have) > 1 and have[0] else None
        cells = ["–" if v is None else f"{v:.15e}" for v in vals]
        w(f"| {name} | {cells[0]} | {cells[1]} | {cells[2]} | "
          f"{'–' if diff is None else f'{diff:.1e}'} |")
    print("\n".join(out))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "collect-ours":
        collect_ours(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif len(sys.argv) == 4 and sys.argv[1] == "render":
        render(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
