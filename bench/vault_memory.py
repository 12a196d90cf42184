"""Server peak memory while evidence is uploaded: a 2 GiB and a 10 MiB upload, each to a fresh
instance and a fresh server process, so each peak is that upload's alone.

The server runs as processes of its own (see bench/vault_http.py for the instance, the
servers and the streamed multipart client); /proc/<pid>/status is read every 50 ms. With
`casefile serve` (gunicorn) the process measured is the worker, which handles every request;
the master's RSS is printed beside it (it does not change during an upload). VmHWM is a
process's peak resident set since it started, VmRSS the resident set at each sample. VmHWM
is reset (`echo 5 > /proc/<pid>/clear_refs`) just before the upload, so the upload's peak is
its own; the peak since start is printed too. (Start-up reaches a peak well above the idle
RSS: argon2's 64 MiB dummy hash at import of casefile.logic.accounts.passwords. With gunicorn that
happens in the master, before the worker is forked.) The item is then downloaded once
(--no-download skips it) and the peak, reset again, read again.

    .venv/bin/python bench/vault_memory.py                    # 2 GiB and 10 MiB, casefile serve
    .venv/bin/python bench/vault_memory.py --sizes-mib 256,10

Targets (issue; printed, not asserted): peak RSS during the 2 GiB upload <= 150 MiB, and
within 30 MiB of the peak during the 10 MiB upload.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from vault_http import (
    MIB,
    Instance,
    Sampler,
    Server,
    download,
    load,
    make_test_file,
    mib_s,
    upload,
    warm_page_cache,
)

PEAK_TARGET_MIB = 150.0
SPREAD_TARGET_MIB = 30.0


def measure(
    size_mib: int, with_download: bool, tmp_root: str | None
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="casefile-vault-mem-", dir=tmp_root))
    try:
        instance = Instance.create(folder)
        data = folder / "testdata.bin"
        expected = make_test_file(data, size_mib * MIB)
        warm_page_cache(data)
        server = Server(instance)
        try:
            idle = server.status()
            load_before = load()
            with Sampler(server, instance.spool_dir) as sampler:
                up = upload(server.port, instance, data)
            result = {
                "size_mib": size_mib,
                "status": up.status,
                "ok": isinstance(up.body, dict) and up.body.get("sha256") == expected,
                "refusal": None if isinstance(up.body, dict) else up.body,
                "process": server.describe(),
                "master_rss": sampler.max_master_rss_kib / 1024,
                "worker": server.pid != server.master,
                "idle_rss": idle["VmRSS"] / 1024,
                "idle_hwm": idle["VmHWM"] / 1024,
                "hwm": sampler.max_hwm_kib / 1024,
                "hwm_start": sampler.hwm_before_kib / 1024,
                "hwm_total": max(sampler.hwm_before_kib, sampler.max_hwm_kib) / 1024,
                "reset": sampler.reset,
                "rss": sampler.max_rss_kib / 1024,
                "spool": sampler.max_spool / MIB,
                "mib_s": mib_s(size_mib * MIB, up.seconds),
                "load": f"{load_before} / {load()}",
                "samples": sampler.samples,
            }
            if with_download and isinstance(up.body, dict):
                with Sampler(server, instance.spool_dir) as dsampler:
                    down = download(server.port, instance, str(up.body["id"]))
                result["down_ok"] = down.size == size_mib * MIB and down.header_sha256 == expected
                result["down_hwm"] = dsampler.max_hwm_kib / 1024
                result["down_rss"] = dsampler.max_rss_kib / 1024
                result["down_spool"] = dsampler.max_spool / MIB
        finally:
            server.stop()
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mib", default="2048,10", help="comma-separated upload sizes")
    parser.add_argument("--no-download", action="store_true")
    parser.add_argument("--tmp", help="where to make the temporary folders (default: $TMPDIR)")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes_mib.split(",") if part.strip()]
    print(f"casefile vault server memory: sizes {sizes} MiB, casefile serve")
    results = []
    for size in sizes:
        result = measure(size, not args.no_download, args.tmp)
        results.append(result)
        print(f"\n{size} MiB upload (load before / after: {result['load']})")
        print(f"  status {result['status']}, stored and hash ok: {result['ok']}")
        if result["refusal"]:
            print(f"  refused: {result['refusal']}")
        print(
            f"  {result['process']} idle: VmRSS {result['idle_rss']:.1f} MiB, "
            f"VmHWM {result['idle_hwm']:.1f} MiB"
        )
        if result["worker"]:
            print(f"  master max sampled VmRSS during the upload {result['master_rss']:.1f} MiB")
        print(
            f"  VmHWM since start, before the upload: {result['hwm_start']:.1f} MiB; "
            f"peak since start after it: {result['hwm_total']:.1f} MiB"
        )
        print(
            f"  during upload (VmHWM reset before: {result['reset']}): peak VmHWM "
            f"{result['hwm']:.1f} MiB, max sampled VmRSS "
            f"{result['rss']:.1f} MiB ({result['samples']} samples), {result['mib_s']:.1f} MiB/s"
        )
        print(f"  largest file held open in the server's TMPDIR: {result['spool']:.1f} MiB")
        if "down_hwm" in result:
            print(
                f"  download (complete: {result['down_ok']}): peak VmHWM {result['down_hwm']:.1f}"
                f" MiB, max sampled VmRSS {result['down_rss']:.1f} MiB, largest TMPDIR file "
                f"{result['down_spool']:.1f} MiB"
            )
    by_size = {result["size_mib"]: result for result in results}
    if 2048 in by_size and 10 in by_size:
        big, small = by_size[2048], by_size[10]
        print("\nTargets")
        extra = "" if big["status"] in (200, 201) else f" (upload refused: {big['status']})"
        for key, label in (("hwm", "during the upload"), ("hwm_total", "since server start")):
            ok = big[key] <= PEAK_TARGET_MIB and big["status"] in (200, 201)
            print(
                f"  2 GiB upload, peak VmHWM {label}: {big[key]:.1f} MiB "
                f"<= {PEAK_TARGET_MIB:.0f} MiB: {'meets' if ok else 'FAILS'}{extra}"
            )
            spread = big[key] - small[key]
            ok = abs(spread) <= SPREAD_TARGET_MIB
            print(
                f"    2 GiB peak - 10 MiB peak = {big[key]:.1f} - {small[key]:.1f} = "
                f"{spread:+.1f} MiB, within {SPREAD_TARGET_MIB:.0f} MiB: "
                f"{'meets' if ok else 'FAILS'}"
            )
        if big.get("worker"):
            total = big["hwm"] + big["master_rss"]
            print(
                f"  (2 GiB upload, worker peak + master RSS, shared pages counted twice: "
                f"{total:.1f} MiB)"
            )
    print(f"  load average at end {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
