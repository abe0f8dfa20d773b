#!/usr/bin/env python3
"""CryptVMI figures (issue 6): a real Debian guest under QEMU TCG, one
agent, one handler with its directory, one tenant, all on loopback over
HTTPS; build/bench/cvmi_bench measures, in the same run:

  * an encrypted `ps` through the handler: median and p99 latency on one
    kept-alive client, and queries/s with 16 concurrent clients;
  * the same `ps` run directly on the guest's memory without encryption
    or HTTP (the vmi library's walk and its JSON, in one process).

    bench/cryptvmi.py [--n N] [--clients N] [--seconds S]
"""
import argparse
import os
import re
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from vmitest import LinuxGuest  # noqa: E402
import cvmitest as cv  # noqa: E402

BENCH = os.path.join(TOP, "build", "bench", "cvmi_bench")


def measure(n=300, clients=16, seconds=5):
    """cvmi_bench's figures: {name: value} (enc_median_ms, direct_qps...)."""
    for f in (BENCH, cv.AGENT, cv.HANDLER, cv.CLI):
        if not os.path.exists(f):
            raise RuntimeError(f"no {f}: run make")
    root = cv.tempdir()
    g = LinuxGuest()
    started = []
    try:
        pki = cv.Pki(root)
        agent = cv.Agent(root, pki, "node1")
        alice = cv.Tenant(root, "alice")
        agent.enroll("alice", alice.pub)
        agent.add_instance("web1", "alice", "vm-a",
                           f"qemu:{g.ram}:{g.qmp_path}")
        agent.start()
        started.append(agent)
        h = cv.Handler(root, pki)
        tok = re.findall(r"[A-Za-z0-9_-]{32,}",
                         h.admin("add-tenant", "alice").stdout)[-1]
        h.admin("add-node", "node1", agent.url, "--ca", pki.ca)
        h.admin("add-instance", "web1", "--tenant", "alice", "--node",
                "node1", "--vm", "vm-a")
        h.start()
        started.append(h)
        alice.cli("configure", "--handler", h.url, "--tenant", "alice",
                  "--token", tok, "--ca", pki.ca)
        alice.cli("trust", "web1", agent.pub)
        out = cv.run(BENCH, alice.dir, "web1", g.ram, str(n),
                     str(clients), str(seconds)).stdout
        f = {k: float(v) for k, v in re.findall(r"^(\S+) (\S+)$", out, re.M)}
    finally:
        for s in started:
            s.stop()
        g.close()
        cv.cleanup(root)
    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    try:
        f = measure(a.n, a.clients, a.seconds)
    except RuntimeError as e:
        sys.exit(f"bench/cryptvmi.py: {e}")
    print(f"guest: {int(f['processes'])} processes; {a.n} sequential "
          f"queries, then {a.clients} clients for {a.seconds:.0f} s")
    print("| figure | encrypted, through the handler | direct on the "
          "guest's memory, no encryption | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| `ps` latency, median | {f['enc_median_ms']:.2f} ms | "
          f"{f['direct_median_ms']:.2f} ms | "
          f"{f['enc_median_ms'] / f['direct_median_ms']:.1f}x |")
    print(f"| `ps` latency, p99 | {f['enc_p99_ms']:.2f} ms | "
          f"{f['direct_p99_ms']:.2f} ms | "
          f"{f['enc_p99_ms'] / f['direct_p99_ms']:.1f}x |")
    print(f"| `ps` queries/s | {f['enc_qps']:.0f} ({a.clients} clients) | "
          f"{f['direct_qps']:.0f} (one thread) | "
          f"{f['enc_qps'] / f['direct_qps']:.2f} |")


if __name__ == "__main__":
    main()
