#!/usr/bin/env bash
# Source checks in the spirit of curl's scripts/checksrc.pl (STYLE.md "Don't"):
# bans unbounded or locale-dependent C calls in daemon/ and tests/kubesim/,
# requires an opening comment in every daemon/ file, and warns about .c
# files over 800 lines.
#
# Usage: scripts/checksrc.sh [FILE...]
#   Without arguments it checks daemon/**/*.[ch] and tests/kubesim/**/*.[ch]
#   below the source root (the parent of this script's folder); with FILE
#   arguments it checks only those (every check applies to each of them).
#   Exit status: 0 clean (warnings allowed), 1 on any error, 2 on bad usage.
#   Errors and warnings are printed as "file:line: error|warning: text".
#
# Banned (word-boundary calls, outside comments, strings and char literals):
#   sprintf vsprintf strcpy strcat strtok atoi atol atoll atof gets popen system
# Use snprintf, a bounded copy (memcpy with a checked length, buf.h), strtok_r
# or a hand parser, strtol/strtoul with errno and range checks, uv_spawn.
# A line may opt out with the exact comment  /* checksrc: ok */  on that same
# line; use it only with a reason next to it (review will ask).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
max_lines=800

if [ $# -gt 0 ]; then
  case $1 in -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; -*) echo "checksrc: unknown option $1" >&2; exit 2 ;; esac
  files=("$@")
else
  cd "$root" || exit 2
  mapfile -t files < <(find daemon tests/kubesim -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
fi
[ ${#files[@]} -gt 0 ] || { echo "checksrc: no files" >&2; exit 2; }

# One awk pass per file. It blanks comments, string and char literals while
# keeping line numbers, then matches the banned names followed by "(".
# The other checks (opening comment, line count) run on the raw text.
LC_ALL=C awk -v max_lines="$max_lines" '
function report(kind, line, text) {
  printf "%s:%d: %s: %s\n", fname, line, kind, text
  if (kind == "error") errors++
}
function finish_file() {
  if (fname == "") return
  if (fname ~ /(^|\/)daemon\//) {
    if (!header_ok)
      report("error", 1, "file does not open with a comment saying what it is for (STYLE.md Layout)")
    else if (header_lines < 2)
      report("warning", 1, "opening comment is " header_lines " line; STYLE.md asks for 2-4 (what it is for, who calls it)")
    if (fname ~ /\.c$/ && nlines > max_lines)
      report("warning", nlines, "file has " nlines " lines (> " max_lines "; STYLE.md: under ~800 lines a file)")
  }
}
FNR == 1 {
  finish_file()
  fname = FILENAME; nlines = 0; nfiles++
  in_comment = 0; header_ok = 0; header_lines = 0; header_state = 0
}
{
  nlines = FNR
  raw = $0
  # Opening comment: the first line must start a comment; count its lines.
  if (FNR == 1) {
    if (raw ~ /^[ \t]*\/\*/) {
      header_ok = 1; header_lines = 1
      header_state = (raw ~ /\*\//) ? 2 : 1
    } else if (raw ~ /^[ \t]*\/\//) {
      header_ok = 1; header_lines = 1; header_state = 3
    }
  } else if (header_state == 1) {
    header_lines++
    if (raw ~ /\*\//) header_state = 2
  } else if (header_state == 3) {
    if (raw ~ /^[ \t]*\/\//) header_lines++; else header_state = 2
  }

  # Blank comments and literals.
  code = ""; n = length(raw); i = 1
  while (i <= n) {
    c = substr(raw, i, 1); c2 = substr(raw, i, 2)
    if (in_comment) {
      if (c2 == "*/") { in_comment = 0; i += 2; code = code "  " } else { code = code " "; i++ }
      continue
    }
    if (c2 == "/*") { in_comment = 1; code = code "  "; i += 2; continue }
    if (c2 == "//") break
    if (c == "\"" || c == "\047") {
      q = c; code = code " "; i++
      while (i <= n) {
        c = substr(raw, i, 1)
        if (c == "\\") { i += 2; code = code "  "; continue }
        i++; code = code " "
        if (c == q) break
      }
      continue
    }
    code = code c; i++
  }

  if (index(raw, "/* checksrc: ok */") > 0) next
  rest = code; off = 0
  while (match(rest, /(^|[^A-Za-z0-9_.>])(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll|atof|gets|popen|system)[ \t]*\(/)) {
    hit = substr(rest, RSTART, RLENGTH)
    sub(/^[^A-Za-z]/, "", hit); sub(/[ \t]*\($/, "", hit)
    report("error", FNR, "banned call " hit "() (see scripts/checksrc.sh for the replacement)")
    rest = substr(rest, RSTART + RLENGTH)
  }
}
END {
  finish_file()
  if (errors > 0) {
    printf "checksrc: %d error(s)\n", errors
    exit 1
  }
  printf "checksrc: %d files, no errors\n", nfiles
}
' "${files[@]}"
