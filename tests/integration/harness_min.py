"""The smallest test runner: each test is a function; failures are printed
with their assertion text; the last line is "N passed, N failed"."""
import sys
import time
import traceback


class Results:
    def __init__(self):
        self.tests = []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def finish(self):
        passed = failed = 0
        only = sys.argv[1:]
        for fn in self.tests:
            if only and fn.__name__ not in only:
                continue
            t0 = time.monotonic()
            try:
                fn()
                passed += 1
                print(f"ok   {fn.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {fn.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
                traceback.print_exc(file=sys.stdout)
        print(f"{passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0
