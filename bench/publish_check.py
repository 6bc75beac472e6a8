"""What a quiet night's publishing check costs against publishing itself (issue 22 item 3).

A night whose data did not change checks that the published copy is still the file it published
(size, mtime, CRC-32: warehouse/publish.Stamp) instead of copying the warehouse again. This
times both on files of the national warehouse's size (39 MB) and of 100x it (about 4 GB would
take minutes here; 400 MB is measured and the rest is linear).

    python -m bench.publish_check [folder]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from warehouse.publish import Stamp, publish, published_path


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(folder: Path) -> None:
    print("| warehouse file | publish (copy + fsync + rename) | check of the copy (stat + CRC-32) | ratio |")
    print("|---|---|---|---|")
    for mb in (39, 400):
        source = folder / f"w{mb}.duckdb"
        with open(source, "wb") as fh:
            for _ in range(mb):
                fh.write(os.urandom(1 << 20))
        copy_s = min(_time(lambda: publish(source)) for _ in range(3))
        stamp = Stamp.of(published_path(source))
        check_s = min(_time(lambda: stamp.matches(published_path(source))) for _ in range(3))
        print(f"| {mb} MB | {copy_s:.3f} s | {check_s:.3f} s | {check_s / copy_s:.2f} |")
        published_path(source).unlink()
        source.unlink()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(dir=sys.argv[1] if len(sys.argv) > 1 else None) as tmp:
        main(Path(tmp))
