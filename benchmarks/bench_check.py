"""Wall time of `planner check` on a libvirt test-driver host with 1,000 domains.

Target (issue 5): a host with 1,000 domains checked in under 2 s. The host file is
generated (a mix of sizes from 64 MiB to 8 GiB, running, paused and shut-off domains,
balloons, hugepages and ``<numatune>`` bindings) into a temporary directory and opened
as ``test:///PATH``. Three figures, median of 5 runs each:

* ``planner check --json --profile kvm-cloud-128mib --profile kvm-cloud-1gib
  --host HOST.yaml test:///PATH`` as a fresh process (the console script; includes Python
  start-up and imports), the figure the target is about;
* ``api.check`` in-process (snapshot + analysis + headroom);
* ``live.snapshot`` alone (libvirt calls and XML parsing).

Run:  .venv/bin/python benchmarks/bench_check.py [--domains 1000] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLANNER = str(Path(sys.executable).parent / "planner")
RUNS = 5
TARGET_S = 2.0
PROFILES = ("kvm-cloud-128mib", "kvm-cloud-1gib")

HOST_YAML = """host:
  node_memory: [2TiB, 2TiB]
  cpus: 256
  kernel: debian12-amd64
  hypervisor: kvm-qemu
  operator_reserve: 16GiB
guests:
  - profile: kvm-cloud-512mib
"""


def host_xml(domains: int, seed: int = 5) -> str:
    """A test-driver host with ``domains`` domains of mixed sizes, states and settings."""
    rng = random.Random(seed)
    sizes_mib = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
    parts = [
        "<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>",
        "  <cpu><mhz>2400</mhz><model>x86_64</model><nodes>2</nodes><sockets>2</sockets>"
        "<cores>64</cores><threads>2</threads><active>256</active></cpu>",
        f"  <memory>{4 * 1024**3}</memory>",
    ]
    for i in range(domains):
        mib = rng.choice(sizes_mib)
        current = mib if rng.random() < 0.7 else max(64, mib // 2)
        vcpus = rng.choice([1, 1, 2, 4])
        extra = ""
        r = rng.random()
        if r < 0.1:
            extra += "<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>"
        if r < 0.3:
            extra += f"<numatune><memory mode='strict' nodeset='{rng.choice([0, 1])}'/></numatune>"
        state = rng.choices([1, 3, 5], weights=[80, 5, 15])[0]
        runstate = f"<test:runstate>{state}</test:runstate>" if state != 1 else ""
        balloon = "<devices><memballoon model='virtio'/></devices>" if rng.random() < 0.5 else ""
        parts.append(
            f"  <domain type='test'><name>guest-{i:05d}</name>"
            f"<memory unit='MiB'>{mib}</memory><currentMemory unit='MiB'>{current}</currentMemory>"
            f"<vcpu>{vcpus}</vcpu>{extra}<os><type arch='x86_64'>hvm</type></os>{balloon}{runstate}</domain>"
        )
    parts.append("</node>")
    return "\n".join(parts) + "\n"


def median_s(fn: Callable[[], object]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--write", action="store_true", help="record the results in benchmarks/results/")
    args = parser.parse_args()

    from planner import api, live

    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "host.xml"
        xml.write_text(host_xml(args.domains))
        yaml = Path(tmp) / "host.yaml"
        yaml.write_text(HOST_YAML)
        uri = f"test://{xml}"
        argv = [PLANNER, "check", "--json", "--host", str(yaml), uri]
        for p in PROFILES:
            argv += ["--profile", p]

        proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode not in (0, 1):
            print(proc.stderr, file=sys.stderr)
            return 2
        (host,) = json.loads(proc.stdout)["hosts"]
        assert host["ok"] and len(host["domains"]) == args.domains, host.get("error")
        active = sum(d["state"] != "shutoff" for d in host["domains"])

        cli_s = median_s(lambda: subprocess.run(argv, capture_output=True, check=False, cwd=ROOT))
        api_s = median_s(lambda: api.check([uri], host_path=yaml, profiles=PROFILES))
        snap_s = median_s(lambda: live.snapshot(uri))

    verdict = "ok" if cli_s < TARGET_S else "MISSED"
    lines = [
        "# planner check speed",
        "",
        "Made by `.venv/bin/python benchmarks/bench_check.py --write` on "
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median of {RUNS} runs, wall time; "
        f"load average {os.getloadavg()[0]:.1f} at the end (other work shares the cores).",
        "",
        f"Host: libvirt test driver, {args.domains} domains ({active} running or paused; sizes 64 MiB to "
        "8 GiB; balloons, hugepages, `<numatune>`), 2 NUMA nodes from the host file, headroom for "
        f"{', '.join(PROFILES)} and the host file's kvm-cloud-512mib.",
        "",
        "| what | median wall s | target |",
        "|---|---|---|",
        f"| `planner check --json` (fresh process: start-up, imports, check) | {cli_s:.3f} | "
        f"< {TARGET_S:g} s: {verdict} |",
        f"| `api.check` in-process (snapshot + analysis + 3 headroom solves) | {api_s:.3f} | |",
        f"| `live.snapshot` alone (libvirt calls + XML parsing) | {snap_s:.3f} | |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        out = ROOT / "benchmarks" / "results" / "check-speed.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_suffix(".md.tmp")
        tmp_out.write_text(text)
        os.replace(tmp_out, out)
    return 0 if cli_s < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
