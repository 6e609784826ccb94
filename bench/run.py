#!/usr/bin/python3
"""bench/run.py: Parley against Prosody and ejabberd, side by side.

For each server in turn (Parley with 1 and with 2 workers, Prosody,
ejabberd): a private instance on loopback, the same accounts, then each
scenario several times, each run on a freshly started server process, with
the generator (bench/loadgen) and the server pinned to different cores
where the machine has them.  The federation scenario runs two instances of
the server (s1.test and s2.test, found through a private DNS) instead, on
the same cores, and the groups scenario an instance of its own with the
server's shared-group feature on (one group of --group-size members).
Prints one table (median, min-max, and
Parley's ratio to the best peer), and writes runs.jsonl, runs.csv,
summary.csv, table.txt, settings.json and PNG charts into
bench/results/run-<time>/.  See bench/README.md.

scripts/bench.sh installs the peers and builds; this file only runs.
"""
import argparse
import csv
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import servers  # noqa: E402  (bench/servers.py)

# ------------------------------------------------------------ scenarios
#
# Each scenario: how to call the generator for one run.  `sizes` gives the
# points of a scenario measured at several sizes (idle: sessions held).
# `pair`: the scenario runs on two federating instances (bench_federation)
# rather than on the one instance of bench_server.  `own`: instance keyword
# arguments of an instance of its own (bench_server again, only for this
# scenario), so the feature it needs stays out of the other scenarios.


def idle_args(a, size):
    return ["--scenario", "idle", "--conns", str(size), "--concurrency", str(a.ramp),
            "--settle", str(a.settle), "--hold", str(a.hold), "--timeout", "120"]


def login_args(a, size):
    return ["--scenario", "login", "--users", str(a.login_users), "--concurrency", str(a.login_concurrency),
            "--duration", str(a.duration), "--warmup", str(a.warmup), "--src-ips", "16"] + \
           (["--tls-resume"] if a.tls_resume else [])


def messages_args(a, size):
    return ["--scenario", "messages", "--pairs", str(a.pairs), "--window", str(a.window),
            "--msg-bytes", str(a.msg_bytes), "--duration", str(a.duration), "--warmup", str(a.warmup)]


def presence_args(a, size):
    return ["--scenario", "presence", "--prefix", "p", "--users", str(a.presence_users),
            "--contacts", str(a.contacts), "--window", str(a.presence_window), "--settle", str(a.settle),
            "--duration", str(a.duration), "--warmup", str(a.warmup)]


def federation_args(a, size):
    # --timeout bounds the first message across (the link coming up) too.
    return ["--scenario", "federation", "--pairs", str(size), "--window", str(a.window),
            "--msg-bytes", str(a.msg_bytes), "--duration", str(a.duration), "--warmup", str(a.warmup),
            "--timeout", "60"]


def groups_args(a, size):
    # One broadcast at a time per member; --group-inflight across the group.
    return ["--scenario", "groups", "--prefix", servers.GROUP_PREFIX, "--users", str(size), "--window", "1",
            "--inflight", str(a.group_inflight), "--settle", str(a.settle), "--duration", str(a.duration),
            "--warmup", str(a.warmup), "--timeout", "60", "--max-time", str(groups_max_time(a, size))]


def groups_max_time(a, size):
    """Logins into a large shared group are slow on some servers (each
    brings a roster of size - 1 and probes as many contacts): half a
    second per member on top of the measurement."""
    return int(90 + 0.5 * size + a.settle + a.warmup + a.duration)


SCENARIOS = {
    "idle": {"args": idle_args, "sizes": lambda a: a.idle_sizes},
    "login": {"args": login_args, "sizes": lambda a: [a.login_concurrency]},
    "messages": {"args": messages_args, "sizes": lambda a: [a.pairs]},
    "presence": {"args": presence_args, "sizes": lambda a: [a.presence_users]},
    "federation": {"args": federation_args, "sizes": lambda a: [a.fed_senders], "pair": True},
    "groups": {"args": groups_args, "sizes": lambda a: [a.group_size],
               "own": lambda a: dict(users=0, presence_users=0, group_users=a.group_size)},
}
FED_DOMAINS = ("s1.test", "s2.test")	# senders' server, receivers' server

# (scenario, result key, label, unit, which way is better)
METRICS = [
    ("idle", "rss_per_session_kb", "memory per idle session", "KiB", "lower"),
    ("idle", "rss_kb", "server RSS, sessions held", "KiB", "lower"),
    ("idle", "connect_logins_per_s", "logins/s while connecting", "/s", "higher"),
    ("login", "logins_per_s", "logins per second", "/s", "higher"),
    ("login", "login_p99_ms", "login p99", "ms", "lower"),
    ("login", "server_cpu_ms_per_login", "server CPU per login", "ms", "lower"),
    ("messages", "msgs_per_s", "messages delivered per second", "/s", "higher"),
    ("messages", "lat_p50_ms", "message latency p50", "ms", "lower"),
    ("messages", "lat_p99_ms", "message latency p99", "ms", "lower"),
    ("messages", "server_cpu_s_per_100k", "server CPU per 100k messages", "s", "lower"),
    ("presence", "presence_per_s", "presence delivered per second", "/s", "higher"),
    ("presence", "lat_p50_ms", "presence latency p50", "ms", "lower"),
    ("presence", "lat_p99_ms", "presence latency p99", "ms", "lower"),
    ("presence", "server_cpu_s_per_100k", "server CPU per 100k presences", "s", "lower"),
    ("federation", "msgs_per_s", "federation: messages over one s2s link per second", "/s", "higher"),
    ("federation", "lat_p50_ms", "federation: message latency p50", "ms", "lower"),
    ("federation", "lat_p99_ms", "federation: message latency p99", "ms", "lower"),
    ("federation", "server_cpu_s_per_100k", "federation: CPU of both servers per 100k messages", "s", "lower"),
    ("federation", "link_up_ms", "federation: first message (link set-up)", "ms", "lower"),
    ("groups", "presence_per_s", "groups: presence delivered per second", "/s", "higher"),
    ("groups", "lat_p50_ms", "groups: presence latency p50", "ms", "lower"),
    ("groups", "lat_p99_ms", "groups: presence latency p99", "ms", "lower"),
    ("groups", "bcast_p99_ms", "groups: broadcast to every member p99", "ms", "lower"),
    ("groups", "server_cpu_s_per_100k", "groups: server CPU per 100k presences", "s", "lower"),
    ("groups", "broadcasts_stalled", "groups: broadcasts stalled", "", "lower"),
    ("groups", "join_server_cpu_ms", "groups: server CPU per member coming online", "ms", "lower"),
]
# Shown for every scenario: a generator near 1.0 measures itself.
GEN_SATURATED = 0.9
INFO = [("gen_cpu_util", "generator CPU (1 = a core)"), ("server_cpu_util", "server CPU (1 = a core)")]

# groups: broadcasts in flight across the group (each to every other
# member).  Enough to keep every server busy; all 500 at once would queue
# 250,000 deliveries, longer than a slow server's stall limit (5 s).
GROUP_INFLIGHT = 16

PRESETS = {
    "full": dict(runs=3, idle_sizes="1000,5000,10000", login_users=1000, login_concurrency=50, pairs=100,
                 window=4, presence_users=1000, contacts=10, presence_window=1, duration=10, warmup=3,
                 hold=3, settle=2, ramp=100, fed_senders=100, group_size=500, group_inflight=GROUP_INFLIGHT),
    # A harness check in well under a minute per server, not a result.
    "quick": dict(runs=1, idle_sizes="25,50", login_users=50, login_concurrency=10, pairs=10, window=4,
                  presence_users=50, contacts=4, presence_window=1, duration=3, warmup=1, hold=1,
                  settle=1, ramp=50, fed_senders=10, group_size=20, group_inflight=GROUP_INFLIGHT),
}


def log(msg):
    print(msg, flush=True)


# ------------------------------------------------------------ cores


def cpu_plan(servers_wanted, ncpu):
    """Generator on cpu 0, each server on the cpus after it.  A 2-core
    machine gives one-core servers cpu 1; Parley with 2 workers then shares
    cpu 0 with the generator (recorded as such)."""
    plan = {}
    notes = []
    if ncpu < 2 or not shutil.which("taskset"):
        notes.append("no pinning (fewer than 2 cpus or no taskset)")
        return {s: None for s in servers_wanted}, None, notes
    gen = "0"
    for s in servers_wanted:
        need = 2 if s == "parley-w2" else 1
        if ncpu >= need + 1:
            plan[s] = "1" if need == 1 else f"1-{need}"
        else:
            plan[s] = f"0-{ncpu - 1}"
            notes.append(f"{s} shares cpu 0 with the generator (only {ncpu} cpus)")
    return plan, gen, notes


# ------------------------------------------------------------ runs


def run_loadgen(a, inst, pid, scen, size, label):
    """inst and pid: one instance and its pid, or lists of them (the
    federation scenario: senders' server first)."""
    insts = inst if isinstance(inst, list) else [inst]
    pids = pid if isinstance(pid, list) else [pid]
    base = [a.loadgen, "--password", servers.PASSWORD, "--label", label]
    for i, p in zip(insts, pids):
        base += ["--server", f"127.0.0.1:{i.port}:{i.domain}", "--server-pid", str(p)]
    args = SCENARIOS[scen]["args"](a, size)
    procs = a.gen_procs if scen == "login" else 1
    cmds = []
    for k in range(procs):
        extra = []
        if procs > 1:
            share = a.login_users // procs
            extra = ["--first", str(k * share), "--users", str(share),
                     "--concurrency", str(max(1, a.login_concurrency // procs))]
        cmd = base + args + extra
        if a.gen_cpus:
            cmd = ["taskset", "-c", a.gen_cpus] + cmd
        cmds.append(cmd)
    ps = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outs = []
    for p in ps:
        try:
            out, err = p.communicate(timeout=a.run_timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            log(f"    loadgen overran {a.run_timeout} s: stopped")
        line = next((l for l in out.splitlines() if l.startswith("{")), None)
        if not line:
            log(f"    loadgen produced no result (exit {p.returncode}): {err.strip()[-500:]}")
            continue
        outs.append(json.loads(line))
    if not outs:
        return None
    res = outs[0]
    if len(outs) > 1:  # several generators: rates add up, latencies are the worst
        for key in ("logins", "logins_per_s", "opened", "failed", "gen_cpu_s", "gen_cpu_util"):
            res[key] = sum(o.get(key, 0) or 0 for o in outs)
        for key in ("login_p50_ms", "login_p99_ms"):
            res[key] = max(o.get(key) or 0 for o in outs)
        if res.get("logins"):
            res["server_cpu_ms_per_login"] = res.get("server_cpu_s", 0) * 1000 / res["logins"]
        res["gen_procs"] = len(outs)
    return res


def roster_setup(a, inst, pid):
    r = run_loadgen_raw(a, inst, pid, ["--scenario", "roster", "--prefix", "p", "--users", str(a.presence_users),
                                       "--contacts", str(a.contacts), "--duration", "120",
                                       "--concurrency", str(a.ramp)])
    if not r or not r.get("complete"):
        log(f"  roster set-up incomplete: {r}")
        return False
    log(f"  rosters: {r['users_ok']} users with {a.contacts} contacts (subscription both)")
    return True


def run_loadgen_raw(a, inst, pid, args):
    cmd = [a.loadgen, "--server", f"127.0.0.1:{inst.port}:{servers.DOMAIN}", "--password", servers.PASSWORD,
           "--server-pid", str(pid)] + args
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.run_timeout + 120)
    line = next((l for l in r.stdout.splitlines() if l.startswith("{")), None)
    if not line:
        log(f"    loadgen: {r.stderr.strip()[-500:]}")
    return json.loads(line) if line else None


def make_instance(a, name, root, cert, cpus, users=None, presence_users=None, **kw):
    """kw: domain, fed (a servers.Federation) and subdir for the federation
    scenario's instances."""
    common = (name, root, cert, cpus, a.users_needed if users is None else users,
              a.presence_users if presence_users is None else presence_users, log)
    if name.startswith("parley-w"):
        return servers.Parley(*common, build=a.parley_build, workers=int(name[len("parley-w"):]), **kw)
    if name == "prosody":
        return servers.Prosody(*common, **kw)
    if name == "ejabberd":
        return servers.Ejabberd(*common, **kw)
    raise SystemExit(f"unknown server {name}")


def bench_server(a, name, root, cert, cpus, records, rawfile, scenarios, **kw):
    """scenarios on one instance of the server; kw: make_instance's, for a
    scenario's own instance (SCENARIOS' `own`)."""
    inst = make_instance(a, name, root, cert, cpus, **kw)
    log(f"== {name}: {inst.version()} (cpus {cpus or 'any'}), instance in {inst.dir}")
    t0 = time.monotonic()
    inst.prepare()
    pid = inst.start()
    try:
        inst.provision_online()
        presence_ok = "presence" not in scenarios or roster_setup(a, inst, pid)
    finally:
        inst.stop()
    naccounts = len(servers.accounts(inst.users, inst.presence_users, inst.group_users))
    log(f"  provisioned {naccounts} accounts" + (f" ({inst.group_users} in one shared group)" if inst.group_users
                                                else "") + f" in {time.monotonic() - t0:.1f} s")
    seen_problems = len(inst.problems())
    for scen in scenarios:
        if scen == "presence" and not presence_ok:
            log("  presence: skipped (rosters not set up)")
            continue
        for size in SCENARIOS[scen]["sizes"](a):
            for run in range(1, a.runs + 1):
                pid = inst.start()
                try:
                    res = run_loadgen(a, inst, pid, scen, size, f"{name}/{scen}/{size}/{run}")
                finally:
                    inst.stop()
                problems = inst.problems()
                new = problems[seen_problems:]
                seen_problems = len(problems)
                if res is None:
                    continue
                res.update(server=name, scenario=scen, size=size, run=run, server_log_problems=len(new))
                rawfile.write(json.dumps(res) + "\n")
                rawfile.flush()
                if res.get("valid") is False:
                    # A precondition the generator checks failed (the
                    # groups scenario: a roster without the shared group):
                    # no figure, and the run as a whole fails.
                    why = res.get("invalid_because") or res.get("errors") or "?"
                    a.invalid.append(f"{name} {scen}[{size}] run {run}: {why}")
                    roster = (f"roster members min {res['roster_members_min']} of {size - 1}; "
                              if "roster_members_min" in res else "")
                    log(f"  {scen}[{size}] run {run}: NOT VALID, no figure recorded: {why} ({roster}see runs.jsonl)")
                    continue
                records.append(res)
                log("  " + brief(scen, size, run, res) + (f"  [{len(new)} log lines: {new[0][:160]}]" if new else ""))
    tls = next((r.get("tls") for r in records if r["server"] == name and r.get("tls")), None)
    return {"version": inst.version(), "cpus": cpus, "settings": inst.settings(), "dir": inst.dir, "tls": tls}


def bench_federation(a, name, root, cpus, records, rawfile):
    """The federation scenario for one server: two instances of it, the
    senders' (s1.test) and the receivers' (s2.test), on the server's cores,
    each with its own accounts u0..u<2N-1>, found by each other through a
    private unbound; every message crosses the one s2s link s1 -> s2.  A
    fresh pair of processes per run; loadgen brings the link up with one
    message before its warm-up."""
    fdir = os.path.join(root, name, "federation")
    fed = servers.Federation(fdir, os.path.join(a.parley_build, "src", "ctl", "parleyctl"), a.gen_cpus)
    users = 2 * max(SCENARIOS["federation"]["sizes"](a))
    pair = [make_instance(a, name, root, fed.cert(d), cpus, users=users, presence_users=0, domain=d, fed=fed,
                          subdir=os.path.join(name, "federation", d)) for d in FED_DOMAINS]
    for inst in pair:
        fed.dns.publish(inst.domain, inst.s2s_port)
    log(f"== {name} federation: {' -> '.join(FED_DOMAINS)} (cpus {cpus or 'any'} for both), in {fdir}")
    fed.dns.start()
    try:
        t0 = time.monotonic()
        for inst in pair:
            inst.prepare()
            inst.start()
            try:
                inst.provision_online()
            finally:
                inst.stop()
        log(f"  provisioned {users} accounts on each in {time.monotonic() - t0:.1f} s")
        seen = [len(i.problems()) for i in pair]
        for size in SCENARIOS["federation"]["sizes"](a):
            for run in range(1, a.runs + 1):
                pids = []
                try:
                    for inst in pair:
                        pids.append(inst.start())
                    res = run_loadgen(a, pair, pids, "federation", size, f"{name}/federation/{size}/{run}")
                finally:
                    for inst in pair:
                        inst.stop()
                new = []
                for k, inst in enumerate(pair):
                    p = inst.problems()
                    new += [f"{inst.domain}: {line}" for line in p[seen[k]:]]
                    seen[k] = len(p)
                if res is None:
                    continue
                res.update(server=name, scenario="federation", size=size, run=run, server_log_problems=len(new))
                records.append(res)
                rawfile.write(json.dumps(res) + "\n")
                rawfile.flush()
                log("  " + brief("federation", size, run, res) + (f"  [{len(new)} log lines: {new[0][:200]}]"
                                                                 if new else ""))
                if not res.get("link_up"):
                    log(f"    the s2s link did not come up: {res.get('errors')}; see {fdir}")
    finally:
        fed.dns.stop()
    return {"cpus": cpus, "domains": list(FED_DOMAINS), "dir": fdir,
            "link": "STARTTLS + dialback (XEP-0220); certificates from a CA neither instance trusts",
            "dns": "private unbound on " + fed.dns.forward, "settings": pair[0].settings()}


def brief(scen, size, run, r):
    f = {"idle": "sessions={sessions} rss={rss_kb}KiB per-session={rss_per_session_kb:.1f}KiB",
         "login": "logins/s={logins_per_s:.0f} p99={login_p99_ms:.1f}ms cpu/login={server_cpu_ms_per_login:.2f}ms",
         "messages": "msgs/s={msgs_per_s:.0f} p50={lat_p50_ms:.2f}ms p99={lat_p99_ms:.2f}ms "
                     "cpu/100k={server_cpu_s_per_100k:.2f}s lost={lost}",
         "presence": "pres/s={presence_per_s:.0f} p50={lat_p50_ms:.2f}ms p99={lat_p99_ms:.2f}ms "
                     "cpu/100k={server_cpu_s_per_100k:.2f}s stalled={broadcasts_stalled}",
         "federation": "msgs/s={msgs_per_s:.0f} p50={lat_p50_ms:.2f}ms p99={lat_p99_ms:.2f}ms "
                       "cpu/100k={server_cpu_s_per_100k:.2f}s lost={lost} bounced={bounced} "
                       "link-up={link_up_ms:.0f}ms",
         "groups": "pres/s={presence_per_s:.0f} p50={lat_p50_ms:.2f}ms p99={lat_p99_ms:.2f}ms "
                   "bcast-p99={bcast_p99_ms:.1f}ms cpu/100k={server_cpu_s_per_100k:.2f}s "
                   "stalled={broadcasts_stalled} dups={duplicates} roster={roster_members_min}/{roster_members_max} "
                   "join={join_server_cpu_ms:.1f}ms/member"}[scen]
    try:
        text = f.format(**{k: (v if v is not None else float("nan")) for k, v in r.items()})
    except (KeyError, ValueError, TypeError):
        text = "incomplete result"
    extra = f" failed={r.get('failed')} gen-cpu={r.get('gen_cpu_util', 0) or 0:.2f} srv-cpu={r.get('server_cpu_util', 0) or 0:.2f}"
    return f"{scen}[{size}] run {run}: {text}{extra}"


# ------------------------------------------------------------ summary


def summarize(records):
    groups = {}
    for r in records:
        for key, val in r.items():
            if isinstance(val, (int, float)) and not isinstance(val, bool) and val == val:
                groups.setdefault((r["server"], r["scenario"], r["size"], key), []).append(val)
    out = {}
    for k, vals in groups.items():
        out[k] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}
    return out


def idle_slopes(summary, names, sizes):
    """KiB per session: least squares over the idle sizes' median RSS."""
    slopes = {}
    for s in names:
        pts = [(n, summary[(s, "idle", n, "rss_kb")]["median"]) for n in sizes if (s, "idle", n, "rss_kb") in summary]
        if len(pts) >= 2:
            mx = sum(p[0] for p in pts) / len(pts)
            my = sum(p[1] for p in pts) / len(pts)
            den = sum((p[0] - mx) ** 2 for p in pts)
            slopes[s] = sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den else None
        elif len(pts) == 1 and (s, "idle", pts[0][0], "rss_per_session_kb") in summary:
            slopes[s] = summary[(s, "idle", pts[0][0], "rss_per_session_kb")]["median"]
    return slopes


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def table(a, summary, names, slopes):
    peers = [s for s in names if not s.startswith("parley")]
    parleys = [s for s in names if s.startswith("parley")]
    rows = []
    hdr = ["metric"] + names + (["best peer"] + [f"{p}/best" for p in parleys] if peers and parleys else [])

    def add(label, unit, better, getter, scen=None, size=None):
        cells, meds = [], {}
        for s in names:
            g = getter(s)
            if g is None:
                cells.append("-")
                continue
            meds[s] = g["median"]
            rng = f" [{fmt(g['min'])}-{fmt(g['max'])}]" if g.get("n", 1) > 1 else ""
            gen = summary.get((s, scen, size, "gen_cpu_util")) if scen else None
            # A saturated generator: the figure is a floor for the server.
            mark = " *" if better == "higher" and gen and gen["median"] >= GEN_SATURATED else ""
            cells.append(fmt(g["median"]) + rng + mark)
        extra = []
        if peers and parleys:
            pv = {s: meds[s] for s in peers if s in meds and meds[s] is not None}
            if pv and better:
                best = (max if better == "higher" else min)(pv, key=pv.get)
                extra.append(f"{fmt(pv[best])} ({best})")
                for p in parleys:
                    ok = p in meds and meds[p] is not None and meds[p] > 0 and pv[best] > 0
                    extra.append(f"{meds[p] / pv[best]:.2f}x" if ok else "-")
            else:
                extra += ["-"] * (1 + len(parleys))
        arrow = {"higher": " (higher is better)", "lower": " (lower is better)"}.get(better, "")
        rows.append([f"{label}, {unit}{arrow}" if unit else label + arrow] + cells + extra)

    for scen, key, label, unit, better in METRICS:
        if scen not in a.scenarios:
            continue
        for size in SCENARIOS[scen]["sizes"](a):
            sz = f" @{size}" if scen == "idle" else ""
            add(label + sz, unit, better, lambda s: summary.get((s, scen, size, key)), scen, size)
    if "idle" in a.scenarios and slopes:
        add("memory per idle session (slope)", "KiB", "lower",
            lambda s: {"median": slopes[s], "n": 1} if slopes.get(s) is not None else None)
    for scen in a.scenarios:
        for key, label in INFO:
            sizes = SCENARIOS[scen]["sizes"](a)
            add(f"{scen}: {label}", "", None, lambda s: summary.get((s, scen, sizes[-1], key)))
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    line = lambda r: "  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r))
    foot = (f"* the generator used >= {GEN_SATURATED:.0%} of its core: the figure is what the generator could "
            "drive, a floor for the server")
    return "\n".join([line(hdr), line(["-" * w for w in widths])] + [line(r) for r in rows] + ["", foot])


def budget(a, summary, names, slopes):
    """The performance budget of issue 3, checked against Parley w1 (the
    per-core figure) and w2."""
    peers = [s for s in names if not s.startswith("parley")]
    w1, w2 = "parley-w1", "parley-w2"
    out = []

    def med(s, scen, key, size=None):
        size = size if size is not None else SCENARIOS[scen]["sizes"](a)[-1]
        g = summary.get((s, scen, size, key))
        return g["median"] if g else None

    def floor(s, scen):
        g = med(s, scen, "gen_cpu_util")
        return " [generator saturated: Parley's figure is a floor]" if g and g >= GEN_SATURATED else ""

    def best(scen, key, hi):
        vals = {p: med(p, scen, key) for p in peers}
        vals = {p: v for p, v in vals.items() if v is not None}
        if not vals:
            return None, None
        b = (max if hi else min)(vals, key=vals.get)
        return b, vals[b]

    if "messages" in a.scenarios and w1 in names:
        b, bv = best("messages", "msgs_per_s", True)
        pv = med(w1, "messages", "msgs_per_s")
        if b and pv:
            p99, bp99 = med(w1, "messages", "lat_p99_ms"), med(b, "messages", "lat_p99_ms")
            ok = pv >= 3 * bv and (p99 or 0) <= (bp99 or 0)
            out.append(f"{'PASS' if ok else 'FAIL'}  messages: {pv:.0f}/s vs {b} {bv:.0f}/s = {pv / bv:.2f}x "
                       f"(want >= 3x), p99 {fmt(p99)} ms vs {fmt(bp99)} ms (want no worse)" + floor(w1, "messages"))
    if "idle" in a.scenarios and w1 in names and slopes.get(w1) is not None:
        ps = {p: slopes[p] for p in peers if slopes.get(p)}
        if ps:
            b = min(ps, key=ps.get)
            ok = slopes[w1] <= ps[b] / 3
            out.append(f"{'PASS' if ok else 'FAIL'}  memory per idle session: {slopes[w1]:.1f} KiB vs {b} "
                       f"{ps[b]:.1f} KiB = {slopes[w1] / ps[b]:.2f}x (want <= 0.33x)")
    if "login" in a.scenarios and w1 in names:
        b, bv = best("login", "logins_per_s", True)
        pv = med(w1, "login", "logins_per_s")
        if b and pv:
            out.append(f"{'PASS' if pv >= 2 * bv else 'FAIL'}  logins: {pv:.0f}/s vs {b} {bv:.0f}/s = "
                       f"{pv / bv:.2f}x (want >= 2x)" + floor(w1, "login"))
    if "messages" in a.scenarios and w1 in names and w2 in names:
        v1, v2 = med(w1, "messages", "msgs_per_s"), med(w2, "messages", "msgs_per_s")
        if v1 and v2:
            out.append(f"{'PASS' if v2 > v1 else 'FAIL'}  workers: w2 {v2:.0f}/s vs w1 {v1:.0f}/s (want w2 faster)")
    return out


# ------------------------------------------------------------ files


def write_csv(path, records):
    keys = []
    for r in records:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in records:
            w.writerow(r)


def write_summary_csv(path, summary):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["server", "scenario", "size", "metric", "median", "min", "max", "runs"])
        for (s, scen, size, key), g in sorted(summary.items(), key=lambda kv: tuple(map(str, kv[0]))):
            w.writerow([s, scen, size, key, g["median"], g["min"], g["max"], g["n"]])


def charts(a, outdir, summary, names, slopes):
    """PNG charts with gnuplot: bars with min-max error bars per metric, and
    server memory against sessions held."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no charts")
        return []
    panels = []
    for scen, key, label, unit, better in METRICS:
        if scen not in a.scenarios or key == "rss_kb" or scen == "idle":
            continue
        size = SCENARIOS[scen]["sizes"](a)[-1]
        rows = [(s, summary.get((s, scen, size, key))) for s in names]
        rows = [(s, g) for s, g in rows if g]
        if rows:
            panels.append((f"{label} ({unit}, {better} is better)", key, scen, rows))
    if slopes:
        rows = [(s, {"median": v, "min": v, "max": v}) for s, v in slopes.items() if v is not None]
        if rows:
            panels.insert(0, ("memory per idle session (KiB, lower is better)", "slope", "idle", rows))
    made = []
    script = []
    for i, (title, key, scen, rows) in enumerate(panels):
        dat = os.path.join(outdir, f"chart_{scen}_{key}.dat")
        with open(dat, "w") as f:
            for s, g in rows:
                f.write(f"{s} {g['median']} {g['min']} {g['max']}\n")
        png = os.path.join(outdir, f"{scen}_{key}.png")
        script += [f"set output '{png}'", f"set title \"{title}\"",
                   f"plot '{dat}' using 2:3:4:xtic(1) notitle lc rgb '#4472c4'"]
        made.append(png)
    head = ["set terminal pngcairo size 640,400 noenhanced" if gnuplot_has("pngcairo")
            else "set terminal png size 640,400 noenhanced",
            "set style data histograms", "set style histogram errorbars gap 1 lw 1",
            "set style fill solid 0.7 border -1", "set yrange [0:*]", "set grid ytics", "set boxwidth 0.8"]
    if "idle" in a.scenarios and len(a.idle_sizes) > 1:
        dat = os.path.join(outdir, "chart_idle_rss.dat")
        with open(dat, "w") as f:
            for s in names:
                f.write(f"# {s}\n")
                for n in a.idle_sizes:
                    g = summary.get((s, "idle", n, "rss_kb"))
                    if g:
                        f.write(f"{n} {g['median'] / 1024:.2f}\n")
                f.write("\n\n")
        png = os.path.join(outdir, "idle_rss.png")
        plots = ", ".join(f"'{dat}' index {i} using 1:2 with linespoints title '{s}'" for i, s in enumerate(names))
        script += ["set style data linespoints", f"set output '{png}'",
                   "set title 'server memory with idle sessions held (MiB)'", "set xlabel 'sessions'",
                   "set autoscale x", f"plot {plots}"]
        made.append(png)
    gp = os.path.join(outdir, "charts.gp")
    with open(gp, "w") as f:
        f.write("\n".join(head + script) + "\n")
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        log(f"gnuplot: {r.stderr.strip()[-500:]}")
    return [m for m in made if os.path.exists(m)]


def gnuplot_has(term):
    r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return term in (r.stdout + r.stderr)


# ------------------------------------------------------------ main


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="full")
    p.add_argument("--servers", default="parley-w1,parley-w2,prosody,ejabberd")
    p.add_argument("--scenarios", default="idle,login,messages,presence,groups")
    p.add_argument("--runs", type=int)
    p.add_argument("--idle-sizes")
    p.add_argument("--login-users", type=int)
    p.add_argument("--login-concurrency", type=int)
    p.add_argument("--pairs", type=int)
    p.add_argument("--window", type=int)
    p.add_argument("--msg-bytes", type=int, default=100)
    p.add_argument("--fed-senders", type=int, help="federation: senders on s1.test (as many receivers on s2.test)")
    p.add_argument("--presence-users", type=int)
    p.add_argument("--contacts", type=int)
    p.add_argument("--presence-window", type=int)
    p.add_argument("--group-size", type=int, help="groups: members of the one shared group (full: 500)")
    p.add_argument("--group-inflight", type=int,
                   help=f"groups: broadcasts in flight across the group (default {GROUP_INFLIGHT})")
    p.add_argument("--duration", type=float)
    p.add_argument("--warmup", type=float)
    p.add_argument("--hold", type=float)
    p.add_argument("--settle", type=float)
    p.add_argument("--ramp", type=int, help="logins in progress at once while connecting")
    p.add_argument("--gen-procs", type=int, default=1, help="generator processes for the login scenario")
    p.add_argument("--tls-resume", action="store_true", help="login scenario resumes TLS sessions")
    p.add_argument("--parley-build", default=os.path.join(ROOT, "build-release"))
    p.add_argument("--loadgen")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--keep-data", action="store_true", help="keep the instances' data directories")
    a = p.parse_args()
    for k, v in PRESETS[a.preset].items():
        if getattr(a, k, None) is None:
            setattr(a, k, v)
    a.idle_sizes = [int(x) for x in str(a.idle_sizes).split(",") if x]
    a.servers = [s for s in a.servers.split(",") if s]
    a.scenarios = [s for s in a.scenarios.split(",") if s]
    for s in a.scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s}; known: {', '.join(SCENARIOS)}")
    a.parley_build = os.path.abspath(a.parley_build)
    a.loadgen = a.loadgen or os.path.join(a.parley_build, "bench", "loadgen")
    a.invalid = []	# runs whose result is not valid, and why
    a.users_needed = max([a.login_users, 2 * a.pairs] + (a.idle_sizes if "idle" in a.scenarios else []))
    a.run_timeout = max(300 + max(a.idle_sizes) / 50 + a.duration + a.warmup + 60,
                        groups_max_time(a, a.group_size) + 60)
    return a


def main():
    a = parse()
    for path in (a.loadgen,):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"{path} missing: build first (scripts/bench.sh does)")
    need = {"prosody": "prosody", "ejabberd": "erl"}
    for s in a.servers:
        if s in need and not shutil.which(need[s]):
            raise SystemExit(f"{s} is not installed (scripts/bench.sh installs it)")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = os.path.join(a.results, f"run-{stamp}")
    os.makedirs(outdir)
    ncpu = os.cpu_count() or 1
    if a.no_pin:
        plan, a.gen_cpus, pin_notes = {s: None for s in a.servers}, None, ["pinning switched off"]
    else:
        plan, a.gen_cpus, pin_notes = cpu_plan(a.servers, ncpu)
    cert = servers.make_certificate(os.path.join(outdir, "certs"))
    load = open("/proc/loadavg").read().split()[:3]
    log(f"results in {outdir}; preset {a.preset}, {a.runs} run(s) per point, {ncpu} cpus, load {' '.join(load)}")
    for n in pin_notes:
        log("note: " + n)
    records, info = [], {}
    t0 = time.monotonic()
    with open(os.path.join(outdir, "runs.jsonl"), "w") as raw:
        single = [s for s in a.scenarios if not SCENARIOS[s].get("pair") and not SCENARIOS[s].get("own")]
        own = [s for s in a.scenarios if SCENARIOS[s].get("own")]
        for name in a.servers:
            info[name] = {}
            if single:
                try:
                    info[name] = bench_server(a, name, outdir, cert, plan.get(name), records, raw, single)
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    log(f"  {name}: failed: {e}")
                    info[name] = {"error": str(e)}
            for scen in own:
                try:
                    info[name][scen] = bench_server(a, name, outdir, cert, plan.get(name), records, raw, [scen],
                                                    subdir=os.path.join(name, scen), **SCENARIOS[scen]["own"](a))
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    log(f"  {name} {scen}: failed: {e}")
                    info[name][scen] = {"error": str(e)}
                    a.invalid.append(f"{name} {scen}: {e}")
                info[name].setdefault("version", info[name][scen].get("version"))
                info[name].setdefault("tls", info[name][scen].get("tls"))
            if "federation" in a.scenarios:
                try:
                    info[name]["federation"] = bench_federation(a, name, outdir, plan.get(name), records, raw)
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    log(f"  {name} federation: failed: {e}")
                    info[name]["federation"] = {"error": str(e)}
                info[name].setdefault("version", make_instance(a, name, outdir, cert, None).version())
                info[name].setdefault("tls", next((r.get("tls") for r in records
                                                   if r["server"] == name and r.get("tls")), None))
            if not a.keep_data:
                dirs = [os.path.join(outdir, name)] + [os.path.join(outdir, name, "federation", d)
                                                       for d in FED_DOMAINS] + \
                    [os.path.join(outdir, name, s) for s in own]
                for d in dirs:
                    for sub in ("instance/parley.db", "instance/parley.db-wal", "instance/parley.db-shm",
                                "data", "spool"):
                        p = os.path.join(d, sub)
                        if os.path.isdir(p):
                            shutil.rmtree(p, ignore_errors=True)
                        elif os.path.exists(p):
                            os.remove(p)
    names = [s for s in a.servers if any(r["server"] == s for r in records)]
    summary = summarize(records)
    slopes = idle_slopes(summary, names, a.idle_sizes) if "idle" in a.scenarios else {}
    text = table(a, summary, names, slopes) if names else "no results"
    checks = budget(a, summary, names, slopes) if names else []
    settings = {
        "when": stamp, "preset": a.preset, "machine": {"cpus": ncpu, "loadavg_at_start": load,
                                                       "kernel": os.uname().release},
        "pinning": {"generator": a.gen_cpus, "servers": plan, "notes": pin_notes},
        "generator": {"binary": a.loadgen, "tls_resume": a.tls_resume, "gen_procs_login": a.gen_procs},
        "parameters": {k: getattr(a, k) for k in ("runs", "idle_sizes", "login_users", "login_concurrency",
                                                 "pairs", "window", "msg_bytes", "presence_users", "contacts",
                                                 "fed_senders", "group_size", "group_inflight",
                                                 "presence_window", "duration", "warmup", "hold", "settle",
                                                 "ramp")},
        "accounts": {"users": a.users_needed, "presence_users": a.presence_users,
                     "group_users": a.group_size if "groups" in a.scenarios else 0, "sasl": "SCRAM-SHA-256",
                     "iterations": servers.ITERATIONS, "certificate": "EC P-256, self-signed, shared"},
        "servers": info, "elapsed_s": round(time.monotonic() - t0, 1),
    }
    with open(os.path.join(outdir, "settings.json"), "w") as f:
        json.dump(settings, f, indent=2, default=str)
    write_csv(os.path.join(outdir, "runs.csv"), records)
    write_summary_csv(os.path.join(outdir, "summary.csv"), summary)
    pngs = charts(a, outdir, summary, names, slopes) if names else []
    header = (f"Parley benchmark {stamp} ({a.preset}): median of {a.runs} run(s) [min-max]; "
              f"{ncpu} cpus, generator on cpu {a.gen_cpus or 'any'}, servers on "
              + ", ".join(f"{s}: {plan.get(s) or 'any'}" for s in names))
    with open(os.path.join(outdir, "table.txt"), "w") as f:
        f.write(header + "\n\n" + text + "\n\n" + "\n".join(checks + [f"NOT VALID: {b}" for b in a.invalid])
                + "\n")
    log("\n" + header + "\n\n" + text + "\n")
    for c in checks:
        log(c)
    for bad in a.invalid:
        log(f"NOT VALID: {bad}")
    for s in names:
        log(f"{s}: {info[s].get('version')}, {info[s].get('tls') or 'TLS ?'}")
    log(f"\nwrote {outdir}/: runs.jsonl runs.csv summary.csv table.txt settings.json "
        + " ".join(os.path.basename(p) for p in pngs))
    latest = os.path.join(a.results, "latest")
    try:
        if os.path.islink(latest):
            os.remove(latest)
        os.symlink(os.path.basename(outdir), latest)
    except OSError:
        pass
    return 0 if names and len(names) == len(a.servers) and not a.invalid else 1


if __name__ == "__main__":
    sys.exit(main())
