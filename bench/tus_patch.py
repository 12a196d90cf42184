"""Server peak memory and speed while a tus client sends a whole file in ONE PATCH (what
tus-js-client and Uppy do on their defaults): a 1 GiB and a 10 MiB upload, each to a fresh
instance and a fresh server process, so each peak is that upload's alone.

The instance, the server (`casefile serve`, gunicorn) and the sampler are bench/vault_http.py's:
/proc/<worker>/status every 50 ms, VmHWM reset just before the PATCH, and any file the server
holds open under its own TMPDIR (a spooled body: plaintext on disk). The client creates the
upload (POST, Upload-Length), then streams the file from disk as one PATCH with a
Content-Length (it never holds the file), and checks the item's SHA-256 afterwards. The server
stores the body as encrypted chunks of tus.CHUNK_BYTES (8 MiB) as it arrives.

    .venv/bin/python bench/tus_patch.py                       # 1 GiB and 10 MiB
    .venv/bin/python bench/tus_patch.py --sizes-mib 256,10

Targets (printed, not asserted; the multipart upload's, bench/vault_memory.py): peak VmHWM
during the large PATCH <= 150 MiB, and within 30 MiB of the 10 MiB PATCH's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vault_http import (
    CHUNK,
    MIB,
    Instance,
    Sampler,
    Server,
    load,
    make_test_file,
    mib_s,
    warm_page_cache,
)

PEAK_TARGET_MIB = 150.0
SPREAD_TARGET_MIB = 30.0
TUS = {"Tus-Resumable": "1.0.0"}


def request(
    port: int, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def one_patch(port: int, instance: Instance, path: Path) -> tuple[int, str, float]:
    """Create the upload and send the file in one PATCH: (status, item id, seconds)."""
    auth = {"Authorization": f"Bearer {instance.token}", **TUS}
    size = path.stat().st_size
    status, headers, body = request(
        port,
        "POST",
        f"/api/v1/cases/{instance.case_id}/uploads",
        {**auth, "Upload-Length": str(size), "Upload-Metadata": "filename YmVuY2guYmlu"},
    )
    if status != 201:
        raise SystemExit(f"creating the upload: {status} {body[:300]!r}")
    location = headers["Location"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    started = time.perf_counter()
    conn.putrequest("PATCH", location)
    for name, value in auth.items():
        conn.putheader(name, value)
    conn.putheader("Upload-Offset", "0")
    conn.putheader("Content-Type", "application/offset+octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                conn.send(chunk)
    except OSError as error:  # the server refused early and closed
        print(f"  (send stopped: {type(error).__name__}: {error})")
    response = conn.getresponse()
    response.read()
    seconds = time.perf_counter() - started
    conn.close()
    return response.status, response.getheader("X-Casefile-Evidence") or "", seconds


def measure(size_mib: int, tmp_root: str | None) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="casefile-tus-patch-", dir=tmp_root))
    try:
        instance = Instance.create(folder)
        data = folder / "testdata.bin"
        expected = make_test_file(data, size_mib * MIB)
        warm_page_cache(data)
        server = Server(instance)
        try:
            load_before = load()
            with Sampler(server, instance.spool_dir) as sampler:
                status, item_id, seconds = one_patch(server.port, instance, data)
            sha = ""
            if item_id:
                _, _, body = request(
                    server.port,
                    "GET",
                    f"/api/v1/evidence/{item_id}",
                    {"Authorization": f"Bearer {instance.token}"},
                )
                sha = str(json.loads(body).get("sha256", ""))
            return {
                "size_mib": size_mib,
                "status": status,
                "ok": sha == expected,
                "hwm": sampler.max_hwm_kib / 1024,
                "reset": sampler.reset,
                "rss": sampler.max_rss_kib / 1024,
                "samples": sampler.samples,
                "spool": sampler.max_spool / MIB,
                "mib_s": mib_s(size_mib * MIB, seconds),
                "load": f"{load_before} / {load()}",
            }
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mib", default="1024,10", help="comma-separated upload sizes")
    parser.add_argument("--tmp", help="where to make the temporary folders (default: $TMPDIR)")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes_mib.split(",") if part.strip()]
    print(f"casefile tus, one PATCH per file: sizes {sizes} MiB, casefile serve")
    results = []
    for size in sizes:
        result = measure(size, args.tmp)
        results.append(result)
        print(f"\n{size} MiB in one PATCH (load before / after: {result['load']})")
        print(f"  status {result['status']}, item registered and SHA-256 ok: {result['ok']}")
        print(
            f"  during the PATCH (VmHWM reset before: {result['reset']}): peak VmHWM "
            f"{result['hwm']:.1f} MiB, max sampled VmRSS {result['rss']:.1f} MiB "
            f"({result['samples']} samples), {result['mib_s']:.1f} MiB/s including completion"
        )
        print(f"  largest file held open in the server's TMPDIR: {result['spool']:.1f} MiB")
    big = max(results, key=lambda r: r["size_mib"])
    small = min(results, key=lambda r: r["size_mib"])
    if big is not small:
        print("\nTargets")
        ok = big["hwm"] <= PEAK_TARGET_MIB and big["ok"]
        print(
            f"  {big['size_mib']} MiB PATCH peak VmHWM {big['hwm']:.1f} MiB <= "
            f"{PEAK_TARGET_MIB:.0f} MiB: {'meets' if ok else 'FAILS'}"
        )
        spread = big["hwm"] - small["hwm"]
        print(
            f"    minus the {small['size_mib']} MiB PATCH's {small['hwm']:.1f} MiB = "
            f"{spread:+.1f} MiB, within {SPREAD_TARGET_MIB:.0f} MiB: "
            f"{'meets' if abs(spread) <= SPREAD_TARGET_MIB else 'FAILS'}"
        )
    print(f"  load average at end {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
