#!/usr/bin/env bash
# Install hookd as a systemd service from a built binary, without a package
# manager. Idempotent: the binary and the unit are replaced on every run (local
# unit changes belong in drop-ins); an existing config.toml or admin.token is
# never overwritten.
#
#   cargo build --release && sudo packaging/install.sh
#
# Environment:
#   DESTDIR     stage into this directory instead of /. Nothing outside it is
#               touched (no useradd, chown or systemctl): the commands that
#               remain are printed instead.
#   PREFIX      where the binary goes: $PREFIX/bin/hookd (default /usr/local)
#   SYSCONFDIR  config root: $SYSCONFDIR/hookd (default /etc)
#   UNITDIR     where the unit goes (default $SYSCONFDIR/systemd/system)
#   HOOKD_BIN   the binary to install (default target/release/hookd)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$SYSCONFDIR/systemd/system}
bin=${HOOKD_BIN:-$here/../target/release/hookd}

fail() { echo "install.sh: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "no hookd binary at $bin (run cargo build --release, or set HOOKD_BIN)"
[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] || fail "run as root to install into /, or set DESTDIR to stage"

conf=$SYSCONFDIR/hookd
created=()

doc=$PREFIX/share/doc/hookd
install -d -m 0755 "$DESTDIR$PREFIX/bin" "$DESTDIR$doc" "$DESTDIR$UNITDIR" "$DESTDIR$conf"
install -d -m 0700 "$DESTDIR$conf/secrets"
install -m 0755 "$bin" "$DESTDIR$PREFIX/bin/hookd"
install -m 0644 "$here/../docs/operations.md" "$DESTDIR$doc/operations.md"
share=$PREFIX/share
install -d -m 0755 "$DESTDIR$share/man/man1" "$DESTDIR$share/bash-completion/completions" \
    "$DESTDIR$share/zsh/vendor-completions" "$DESTDIR$share/fish/vendor_completions.d"
install -m 0644 "$here"/man/*.1 "$DESTDIR$share/man/man1/"
install -m 0644 "$here/completions/hookd.bash" "$DESTDIR$share/bash-completion/completions/hookd"
install -m 0644 "$here/completions/_hookd" "$DESTDIR$share/zsh/vendor-completions/_hookd"
install -m 0644 "$here/completions/hookd.fish" "$DESTDIR$share/fish/vendor_completions.d/hookd.fish"
# Alert rules and dashboard, for the operator's Prometheus and Grafana.
install -d -m 0755 "$DESTDIR$share/hookd/prometheus" "$DESTDIR$share/hookd/grafana"
install -m 0644 "$here/prometheus/hookd.rules.yml" "$DESTDIR$share/hookd/prometheus/hookd.rules.yml"
install -m 0644 "$here/grafana/hookd.json" "$DESTDIR$share/hookd/grafana/hookd.json"

unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed -e "s#/usr/bin/hookd#$PREFIX/bin/hookd#g" -e "s#/usr/share/doc/hookd#$doc#g" -e "s#/etc/hookd#$conf#g" "$here/hookd.service" >"$unit"
install -m 0644 "$unit" "$DESTDIR$UNITDIR/hookd.service"

if [ ! -e "$DESTDIR$conf/config.toml" ]; then
    install -m 0640 "$here/config.toml" "$DESTDIR$conf/config.toml"
    created+=("$conf/config.toml")
fi
if [ ! -e "$DESTDIR$conf/admin.token" ]; then
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$DESTDIR$conf/admin.token" && echo >>"$DESTDIR$conf/admin.token")
    chmod 0600 "$DESTDIR$conf/admin.token"
    created+=("$conf/admin.token")
fi

# What remains is the real system's business.
system_steps=(
    "getent passwd hookd >/dev/null || useradd --system --user-group --home-dir /var/lib/hookd --no-create-home --shell /usr/sbin/nologin hookd"
)
for f in "${created[@]}"; do
    [ "$f" = "$conf/config.toml" ] && system_steps+=("chown root:hookd $conf/config.toml")
done
system_steps+=("systemctl daemon-reload" "systemctl enable hookd.service")

echo "hookd installed: $PREFIX/bin/hookd, $UNITDIR/hookd.service, $conf/"
for f in "${created[@]}"; do echo "  created $f"; done
if [ -n "$DESTDIR" ]; then
    echo "Staged under $DESTDIR. On the target machine, as root, run:"
    for s in "${system_steps[@]}"; do echo "  $s"; done
else
    for s in "${system_steps[@]}"; do
        if [[ $s == systemctl* ]] && [ ! -d /run/systemd/system ]; then
            echo "  systemd is not running here; later run: $s"
            continue
        fi
        echo "  + $s"
        bash -c "$s"
    done
fi
cat <<MSG
Next steps:
  1. Put each sender's secret in $conf/secrets/NAME (root, 0600), e.g.
       install -m 0600 /dev/stdin $conf/secrets/stripe     # paste, then Ctrl-D
  2. Edit $conf/config.toml: sources and routes (secret_file = "secrets_stripe").
  3. systemctl start hookd && journalctl -u hookd -f
See $doc/operations.md.
MSG
