#!/usr/bin/env bash
# Print a PATH fragment with the bin folders of the pyenv interpreters 3.8-3.13, so
# that tox finds python3.8 ... python3.13. Prints nothing without pyenv.
set -euo pipefail
command -v pyenv >/dev/null || exit 0
root=$(pyenv root)
dirs=()
for minor in 8 9 10 11 12 13; do
  newest=$(ls -d "$root"/versions/3."$minor".* 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$newest" ] && dirs+=("$newest/bin")
done
(IFS=:; echo "${dirs[*]}")
