#!/usr/bin/env python3
"""The benchmark suite's smoke mode (bench/suite.py --smoke): every
experiment runs with a handful of samples against real vsbd, vsb-ghv,
QEMU, ssh and VNC, and the report comes out whole. The figures themselves
are never judged here (the machine is shared and noisy), except the
eavesdropping experiment's, which are not timings: in bypass routing the
operator captures nothing, in traditional routing everything."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vsbtest import BUILD, TOP, Skip, run_all, test  # noqa: E402

SUITE = os.path.join(TOP, "bench", "suite.py")
REPORT = os.path.join(TOP, "bench", "report.py")
EXPECTED = ["exit_cost", "serial_echo", "serial_throughput", "vnc_key",
            "vnc_update", "eavesdrop", "cvmi_latency", "cvmi_qps", "vmi_read",
            "scaling_echo", "scaling_throughput", "scaling_vnc",
            "memory_per_vm"]
SYSTEMS = ["bypass", "bypass-raw", "traditional", "qemu"]

_run = {}


def smoke():
    """Runs the suite once for all tests: (exit status, output, folder)."""
    if not _run:
        if not os.path.exists("/dev/kvm"):
            raise Skip("no /dev/kvm")
        if not shutil.which("gnuplot"):
            raise Skip("no gnuplot (scripts/setup.sh installs it)")
        out = tempfile.mkdtemp(prefix="vsbsmoke-")
        r = subprocess.run([sys.executable, SUITE, "--smoke", "--out", out,
                            "--build", BUILD], capture_output=True, text=True,
                           timeout=900)
        _run.update(rc=r.returncode, log=r.stdout + r.stderr, out=out)
    if _run["rc"] != 0:
        raise AssertionError(f"suite exited {_run['rc']}:\n{_run['log'][-3000:]}")
    return _run["out"]


def figures():
    with open(os.path.join(smoke(), "figures.json")) as f:
        return {e["id"]: e for e in json.load(f)["experiments"]}


@test
def every_experiment_ran_with_every_system():
    figs = figures()
    assert list(figs) == EXPECTED, list(figs)
    for f in figs.values():
        assert f["skipped"] is None, (f["id"], f["skipped"])
    for exp_id in ("serial_echo", "serial_throughput", "vnc_key", "vnc_update"):
        got = {s["name"]: s["stats"] for s in figs[exp_id]["systems"]}
        assert list(got) == SYSTEMS, (exp_id, list(got))
        for name, st in got.items():
            assert st["median"] > 0 and st["n"] > 0, (exp_id, name, st)
    for exp_id in ("scaling_echo", "scaling_throughput", "scaling_vnc",
                   "memory_per_vm"):
        for s in figs[exp_id]["series"]:
            xs = [p["x"] for p in s["points"] if p["stats"]]
            assert xs == [1, 2], (exp_id, s["name"], s["points"])


@test
def eavesdropping_bypass_leaks_nothing_traditional_everything():
    eav = figures()["eavesdrop"]
    col = {h: i for i, h in enumerate(eav["headers"])}
    rows = {r[0]: r for r in eav["rows"]}
    for channel in ("console output", "screens (text read back)",
                    "UART data register (access log)", "operator process memory"):
        trad = rows[channel][col["traditional"]]
        byp = rows[channel][col["bypass"]]
        assert trad.startswith("console 12/12, VNC 12/12"), (channel, trad)
        assert not byp.startswith(("console 12/", "console 11/", "console 10/")), \
            (channel, byp)
    bars = eav["bars"]
    i = bars["labels"].index("bypass")
    assert all(g["values"][i] == 0 for g in bars["groups"]), bars


@test
def report_has_every_section_and_plot():
    out = smoke()
    with open(os.path.join(out, "report.md")) as f:
        text = f.read()
    assert text.startswith("# vsb benchmark report"), text[:200]
    assert "Smoke run" in text
    for n in ("1", "2", "3", "4", "5", "6", "7"):
        assert f"\n## {n}. " in text, n
    assert "plot failed" not in text, text
    for exp_id in EXPECTED:
        with open(os.path.join(out, exp_id + ".png"), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", exp_id
        assert f"]({exp_id}.png)" in text, exp_id


@test
def report_rejects_malformed_figures():
    d = tempfile.mkdtemp(prefix="vsbreport-")
    try:
        bad = os.path.join(d, "figures.json")
        with open(bad, "w") as f:
            f.write('{"meta": ')
        r = subprocess.run([sys.executable, REPORT, bad], capture_output=True,
                           text=True)
        assert r.returncode == 1 and "not valid JSON" in r.stderr, r
        with open(os.path.join(smoke(), "figures.json")) as f:
            figs = json.load(f)
        del figs["experiments"][1]["stat"]
        with open(bad, "w") as f:
            json.dump(figs, f)
        r = subprocess.run([sys.executable, REPORT, bad], capture_output=True,
                           text=True)
        assert r.returncode == 1 and "missing key 'stat'" in r.stderr, r
        assert not os.path.exists(os.path.join(d, "report.md"))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    try:
        run_all()
    finally:
        if _run.get("out"):
            shutil.rmtree(_run["out"], ignore_errors=True)
