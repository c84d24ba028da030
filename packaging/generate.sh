#!/usr/bin/env bash
# Regenerate the shell completions and the man page that packaging ships,
# from the CLI's own definitions (tests/it/cli.rs fails when they differ).
#   packaging/generate.sh [HOOKD_BINARY]
set -euo pipefail
cd "$(dirname "$0")"
bin=${1:-../target/debug/hookd}
[ -x "$bin" ] || { echo "generate.sh: $bin is not built (cargo build)" >&2; exit 1; }
"$bin" completions bash >completions/hookd.bash
"$bin" completions zsh >completions/_hookd
"$bin" completions fish >completions/hookd.fish
rm -rf man && mkdir man && "$bin" man man
