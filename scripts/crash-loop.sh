#!/usr/bin/env bash
# Kill -9 a running node at random moments, CYCLES times (default 100), while it pays and
# records flow in from a peer; after every restart each acknowledged payment and record
# must be there, and no seq may be signed twice. A failing run prints its seed; repeat
# it with MESHPAY_CRASH_SEED=<seed>.
set -euo pipefail
cd "$(dirname "$0")/.."
export MESHPAY_CRASH_CYCLES="${1:-100}"
# The same cargo invocation as the tests (a narrower one unifies features differently and
# rebuilds rocksdb); the name filter picks the one test.
exec cargo xtask test acknowledged_payments_and_records_survive_sigkill -- --nocapture
