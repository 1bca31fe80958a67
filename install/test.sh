#!/usr/bin/env bash
# The README's second command: the whole test suite, on real daemons.
# Installs what is missing, checks generated code is fresh, type-checks, then runs every test
# on the embedded PostgreSQL. With MPANEL_TEST_DATABASE_URL set, the end-to-end test runs a
# second time against that server. Ends with a plain line "N passed, N failed".
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$MPANEL_ROOT/install/deps.sh"
cd "$MPANEL_ROOT"
out=$(mktemp -d /tmp/mpanel-test.XXXX)
trap 'rm -rf "$out"' EXIT
status=0

echo "== generated code is fresh"
npm run --silent generate >/dev/null
if [ -d .git ] && ! git diff --quiet -- proto/src/gen; then
  echo "proto/src/gen is stale: run 'npm run generate' and commit" >&2
  git diff --stat -- proto/src/gen >&2
  status=1
fi

echo "== type check"
tsc -p tsconfig.json --noEmit || status=1

echo "== panel build (type check + vite; the browser tests use it)"
npm run --silent build -w panel >/dev/null || status=1

echo "== tests (embedded PostgreSQL)"
env -u DATABASE_URL vitest run --reporter=default --reporter=json --outputFile.json="$out/embedded.json" || status=1

if [ -n "${MPANEL_TEST_DATABASE_URL:-}" ]; then
  echo "== end-to-end test on DATABASE_URL"
  DATABASE_URL="$MPANEL_TEST_DATABASE_URL" vitest run coordinator/test/e2e-website.test.ts \
    --reporter=default --reporter=json --outputFile.json="$out/external.json" || status=1
fi

node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0;
  for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(process.argv[1] + "/" + f, "utf8"));
    // Failed and skipped tests both count as failed; so does a test file that could not run at all.
    passed += r.numPassedTests;
    failed += r.numTotalTests - r.numPassedTests;
    failed += r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length;
  }
  console.log(`${passed} passed, ${failed} failed`);
' "$out"
[ "$status" = 0 ] && [ "$(ls "$out" | wc -l)" -gt 0 ] || exit 1
