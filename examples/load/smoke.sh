#!/usr/bin/env bash
# CI smoke of the load tool's issue-12 workloads: each runs once, small, and
# the load tool itself exits non-zero unless every request was acked (2xx)
# and, end to end, every event delivered exactly once. No timing is judged.
# Builds the release hookd it drives (the load example too, a no-op after
# .ci/run's build; `cargo deb` reuses the binary), installs nginx from
# Debian when missing, and nats-server and redis-server (need root, like .ci/test's tools),
# and the baseline stack's pinned Node packages (`npm ci` in examples/stack, with the
# machine's Node.js). About 20 s on 2 cores once built; every run is capped at 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends nats-server >/dev/null
fi
if ! command -v redis-server >/dev/null && [ ! -x /usr/bin/redis-server ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
(cd examples/stack && npm ci --no-audit --no-fund --loglevel=error)
cargo build --release --quiet --example load --bin hookd

load=$target/release/examples/load
hookd=$target/release/hookd
for mode in "ceiling -n 2000" "command --burn-ms 1 -n 300" "callback --sink nginx -n 2000" "nats --replicas 3 -n 1000" \
    "stack --burn-ms 1 -n 300"; do
    echo "smoke: load $mode"
    # $mode is split into words on purpose.
    # shellcheck disable=SC2086
    if ! timeout -k 10 120 "$load" $mode --runs 1 --log warn --max-secs 30 --hookd "$hookd"; then
        echo "smoke: load $mode FAILED"
        exit 1
    fi
done
echo "smoke: load ceiling, command --burn-ms, callback --sink nginx, nats --replicas 3, stack --burn-ms: every event acked and delivered"
