#!/usr/bin/env bash
# Build and test extensions against several PostgreSQL majors, one after another:
#   ci/matrix.sh 13 15 17 18        (default: every major in invoke.yaml's test_majors)
# Each major is built by build-pg (cached between runs when pg_source/ is kept),
# then every extension under extensions/ is tested on it with ext-test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
majors=("$@")
./lab doctor
if [ ${#majors[@]} -eq 0 ]; then
  IFS=, read -r -a majors <<<"$(.venv/bin/python -c 'from pglab.config import Settings; print(Settings.load().test_majors)')"
fi
built=()
for major in "${majors[@]}"; do
  # a major no channel can provide is skipped; a build that fails is a failure
  log=$(mktemp)
  set +e
  ./lab build-pg --version "$major" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -eq 0 ]; then
    built+=("$major")
  elif grep -q "cannot be obtained" "$log"; then
    echo "skipping $major: no source channel can provide it here"
  else
    exit "$status"
  fi
  rm -f "$log"
done
[ ${#built[@]} -gt 0 ] || { echo "no major could be built" >&2; exit 1; }
pg=$(IFS=,; echo "${built[*]}")
exec ./lab ext-test all --pg "$pg"
