#!/usr/bin/env python3
"""Prints one closing line for a meson test run: 'N passed, N failed'.

Counts individual GoogleTest cases (meson folds each gtest binary's XML into
its JUnit log) plus every other meson test as one case, over every JUnit
file given (scripts/test.sh adds the bounded fuzz runs' file, one case per
fuzz target). Exits non-zero when anything failed or when no test ran at
all.
"""
import sys
import xml.etree.ElementTree as ET


def main(paths: list[str]) -> int:
    passed = failed = skipped = 0
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            print(f"test_summary: cannot read {path}: {e}", file=sys.stderr)
            return 1
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    if passed + failed == 0:
        print("test_summary: no test ran", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["build/meson-logs/testlog.junit.xml"]))
