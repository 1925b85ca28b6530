#!/usr/bin/env bash
# Regenerates the syscall table in README.md from core's syscall table.
set -euo pipefail
cd "$(dirname "$0")/.."
table=$(cargo run -q -p veil -- syscalls)
python3 - "$table" <<'PY'
import re, sys
table = sys.argv[1].rstrip("\n")
begin = "<!-- syscall-table begin"
end = "<!-- syscall-table end -->"
s = open("README.md").read()
if begin in s:
    i = s.index(begin)
    j = s.index(end) + len(end)
    s = s[:i] + table + s[j:]
else:
    s = s.replace("<!-- syscall-table -->", table)
open("README.md", "w").write(s)
PY
