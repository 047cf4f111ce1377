"""Images into S3 from one process: puts/s and MB/s of 3 KB plate crops and 25 KB
overviews into a real SeaweedFS server started here (decision 0017).

Each round stores `--images` fresh random images of one size through `S3ImageStore`
exactly as the ingest writer does: `append` a group of `--group` images (the PUTs start
on the store's thread pool), then `sync` (wait for all of them), group after group. It
reports, per size and round: images/s, MB/s, the mean group's wall time, the client's
and the server's CPU per image (this process's `process_time`, the `weed` process's
utime+stime from /proc), and the load average before and after. Rounds alternate the
sizes. `--concurrency 1` gives the one-PUT-at-a-time yardstick; `--no-fsync` starts
SeaweedFS without its per-bucket fsync, to see what the fsync costs; `--boto3` sends
every PUT through boto3's `put_object` instead of the store's lean signed PUT.

Then, once per size, the read and delete paths on `--images // 2` of the stored images:
`get` (GET + sha256 check) one at a time; `delete` (HEAD + DELETE) one at a time on half
of them, `delete_many` (what retention and the sweep call: DeleteObjects, 1,000 keys a
request) on the other half.

    PYTHONPATH=src:. python scripts/s3_images_bench.py --images 3000 --rounds 2 [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests/

from tests.seaweedfs import SeaweedFS

from veille.adapters.s3_images import S3ImageStore, S3Location, s3_image_store
from veille.domain.reads import ImageRef, ImageUpload

SIZES = {"3KB": 3 * 1024, "25KB": 25 * 1024}


def server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def uploads(count: int, size: int) -> list[ImageUpload]:
    out = []
    for _ in range(count):
        data = os.urandom(size)
        sha = hashlib.sha256(data).hexdigest()
        out.append(ImageUpload(ImageRef("plate", "image/jpeg", sha256=sha, size=size), data))
    return out


def one_round(
    store: S3ImageStore, server: SeaweedFS, size: int, count: int, group: int
) -> dict[str, Any]:
    images = uploads(count, size)  # made before the clock starts
    load_before = os.getloadavg()[0]
    assert server.pid is not None
    cpu0, server0, wall0 = time.process_time(), server_cpu_s(server.pid), time.perf_counter()
    groups = []
    for start in range(0, count, group):
        began = time.perf_counter()
        store.append(images[start : start + group])
        store.sync()
        groups.append(time.perf_counter() - began)
    wall = time.perf_counter() - wall0
    cpu, server_cpu = time.process_time() - cpu0, server_cpu_s(server.pid) - server0
    return {
        "images": count,
        "images_per_s": round(count / wall, 1),
        "mb_per_s": round(count * size / wall / 1e6, 2),
        "group_ms_mean": round(1000 * statistics.fmean(groups), 1),
        "group_ms_max": round(1000 * max(groups), 1),
        "client_cpu_ms_per_image": round(1000 * cpu / count, 3),
        "server_cpu_ms_per_image": round(1000 * server_cpu / count, 3),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "_stored": [image.ref.sha256 for image in images],
    }


def reads_and_deletes(store: S3ImageStore, hashes: list[str]) -> dict[str, float]:
    """GETs one at a time; half the images deleted one at a time (HEAD + DELETE), the
    other half as retention deletes them (`delete_many`: DeleteObjects, 1,000 a request)."""
    began = time.perf_counter()
    for sha in hashes:
        assert store.get(sha) is not None
    gets = len(hashes) / (time.perf_counter() - began)
    one_by_one, batched = hashes[: len(hashes) // 2], hashes[len(hashes) // 2 :]
    began = time.perf_counter()
    for sha in one_by_one:
        assert store.delete(sha)
    deletes = len(one_by_one) / (time.perf_counter() - began)
    began = time.perf_counter()
    assert store.delete_many(batched) == len(batched)
    batch_deletes = len(batched) / (time.perf_counter() - began)
    return {
        "gets_per_s": round(gets, 1),
        "deletes_per_s": round(deletes, 1),
        "delete_many_per_s": round(batch_deletes, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3000, help="images per round and size")
    parser.add_argument("--group", type=int, default=64, help="images per append + sync")
    parser.add_argument("--concurrency", type=int, default=16, help="PUTs in flight")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-fsync", action="store_true", help="SeaweedFS without fsync")
    parser.add_argument("--boto3", action="store_true", help="PUTs through boto3, not signed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="veille-s3-bench-") as folder:
        server = SeaweedFS(Path(folder), fsync=not args.no_fsync)
        server.start()
        try:
            bucket = server.new_bucket()
            store = s3_image_store(  # as bootstrap builds it
                S3Location(bucket, "bench/"),
                endpoint_url=server.endpoint_url,
                region="us-east-1",
                access_key_id=server.access_key,
                secret_access_key=server.secret_key,
                timeout_s=30.0,
                max_concurrency=args.concurrency,
                multipart_threshold=8 * 1024 * 1024,
                part_bytes=8 * 1024 * 1024,
            )
            if args.boto3:
                store.signed_put = None  # every PUT through boto3's put_object
            results: dict[str, list[dict[str, Any]]] = {name: [] for name in SIZES}
            stored: dict[str, list[str]] = {name: [] for name in SIZES}
            for round_no in range(args.rounds):
                order = list(SIZES) if round_no % 2 == 0 else list(reversed(SIZES))
                for name in order:
                    result = one_round(store, server, SIZES[name], args.images, args.group)
                    stored[name].extend(result.pop("_stored"))
                    results[name].append(result)
                    if not args.json:
                        print(f"round {round_no + 1} {name}: {result}", flush=True)
            paths = {
                name: reads_and_deletes(store, stored[name][: max(2, args.images // 2)])
                for name in SIZES
            }
            store.close()
        finally:
            server.stop(kill=True)
    summary = {
        "settings": {
            "images": args.images,
            "group": args.group,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "seaweedfs_fsync": not args.no_fsync,
            "put_path": "boto3" if args.boto3 else "signed put",
        },
        "puts": results,
        "gets_and_deletes_one_at_a_time": paths,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for name, rows in results.items():
            rates = [row["images_per_s"] for row in rows]
            mbs = [row["mb_per_s"] for row in rows]
            print(f"{name}: {rates} images/s, {mbs} MB/s; {paths[name]}")


if __name__ == "__main__":
    main()
