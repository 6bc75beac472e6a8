"""`make fuzz`: thousands of generated files through `pilotkpi run`, with the CI test's checks.

    python -m tests.fuzz.run --files 3000 --seed 1 [--shrink] [--keep DIR]

Prints the file count and the seed, then every problem found (exit 1), or "no findings" (exit 0).
With --shrink, a failing first run is bisected down to the smallest subset of files that still
fails, and their indexes and mutations are printed (`generate(seed, count)[i]` rebuilds file i).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from flows.settings import apply_defaults

apply_defaults()


def _fails(files, workdir: Path, n: list[int]) -> bool:
    from tests.fuzz.checks import all_problems, fuzz_session

    n[0] += 1
    root = workdir / f"shrink{n[0]}"
    root.mkdir()
    return bool(all_problems(fuzz_session(root, files)))


def shrink(files, workdir: Path) -> list:
    """Halve the failing set while a half fails on its own; then drop single files (small sets only)."""
    n = [0]
    while len(files) > 1:
        half = len(files) // 2
        if _fails(files[:half], workdir, n):
            files = files[:half]
        elif _fails(files[half:], workdir, n):
            files = files[half:]
        else:
            break
    if len(files) <= 16:
        for f in list(files):
            rest = [g for g in files if g is not f]
            if rest and _fails(rest, workdir, n):
                files = rest
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shrink", action="store_true", help="bisect a failure down to a few files")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args(argv)

    from prefect.testing.utilities import prefect_test_harness

    from tests.fuzz.checks import all_problems, fuzz_session
    from tests.fuzz.generator import generate

    started = time.monotonic()
    files = generate(args.seed, args.files)
    print(f"fuzz: {len(files)} files, seed {args.seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="pilotkpi-fuzz-") as tmp, \
            prefect_test_harness(server_startup_timeout=90):
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        root = workdir / "run"
        root.mkdir()
        problems = all_problems(fuzz_session(root, files))
        for check, found in problems.items():
            print(f"FAILED {check}: {len(found)} problem(s)")
            for line in found[:20]:
                print(f"  {line}")
        if problems and args.shrink:
            small = shrink(files, workdir)
            print(f"shrunk to {len(small)} file(s) of seed {args.seed}, count {args.files}:")
            for f in small:
                print(f"  file {f.index} {f.name!r}: {'; '.join(f.mutations)}")
    print(f"fuzz: {len(files)} files, seed {args.seed}: "
          f"{'no findings' if not problems else f'{len(problems)} failed check(s)'} "
          f"in {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
