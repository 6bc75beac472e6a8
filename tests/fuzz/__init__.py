"""Whole-flow fuzzing: a seeded generator of hostile report files (generator.py), the checks a
nightly run on them must pass (checks.py), and `python -m tests.fuzz.run` for thousands of files
outside pytest (run.py). tests/test_fuzz_flow.py runs the same generator and checks in CI."""
