#!/usr/bin/env bash
# Install edgecascade as services on a Debian-family host (Raspberry Pi OS 64-bit,
# Ubuntu/JetPack 6, Debian servers). Run as root from a clone or with a built wheel:
#   sudo bash deploy/install.sh                       # builds the wheel from this clone
#   sudo bash deploy/install.sh dist/edgecascade-0.1.0-py3-none-any.whl
#   EC_EXTRAS=emulator sudo -E bash deploy/install.sh  # also the device emulator
# Where it writes (defaults for a real host; tests point them at a scratch folder):
#   EC_PREFIX=/opt/edgecascade  EC_ETC=/etc/edgecascade  EC_VAR=/var/lib/edgecascade
#   EC_UNITS=/etc/systemd/system  EC_USER=edgecascade (empty: no service user, files
#   owned by whoever runs the script; for an unprivileged trial install)
# Idempotent: an upgrade is the same command with the new wheel; /etc/edgecascade and
# /var/lib/edgecascade (ledger, spool, cache) are never overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${EC_PREFIX:-/opt/edgecascade}
PY=${PYTHON:-python3}
EXTRAS=${EC_EXTRAS:-}
ETC=${EC_ETC:-/etc/edgecascade}
VAR=${EC_VAR:-/var/lib/edgecascade}
UNITS=${EC_UNITS:-/etc/systemd/system}
USER_=${EC_USER-edgecascade}

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  echo "install.sh: edgecascade needs Python >= 3.10 (JetPack 5 ships 3.8: use JetPack 6)" >&2
  exit 2
}
wheel=${1:-}
if [ -z "$wheel" ]; then
  "$PY" -m pip --version >/dev/null 2>&1 || { echo "install.sh: needs pip (apt-get install python3-pip python3-venv)" >&2; exit 2; }
  out=$(mktemp -d)
  "$PY" -m venv "$out/venv" && "$out/venv/bin/pip" install -q build
  "$out/venv/bin/python" -m build --wheel --outdir "$out/dist" .
  wheel=$(ls "$out"/dist/edgecascade-*.whl)
fi

owner=()
if [ -n "$USER_" ]; then
  getent group "$USER_" >/dev/null || groupadd --system "$USER_"
  getent passwd "$USER_" >/dev/null || useradd --system --gid "$USER_" \
    --home-dir "$VAR" --no-create-home --shell /usr/sbin/nologin "$USER_"
  getent group dialout >/dev/null && usermod -aG dialout "$USER_"
  owner=(-g "$USER_")
fi

[ -x "$PREFIX/venv/bin/python" ] || "$PY" -m venv "$PREFIX/venv"
spec="$wheel"; [ -n "$EXTRAS" ] && spec="$wheel[$EXTRAS]"
"$PREFIX/venv/bin/pip" install -q --upgrade "$spec"
models=$("$PREFIX/venv/bin/python" -c 'import edgecascade.models as m, os; print(os.path.dirname(m.__file__))')
ln -sfn "$models" "$PREFIX/models"
install -d -m 0755 "$PREFIX/docs" && install -m 0644 docs/deploy.md "$PREFIX/docs/" 2>/dev/null || true

install -d -m 0750 "${owner[@]}" "$ETC"
for f in gateway.toml worker-1.toml; do
  [ -e "$ETC/$f" ] || install -m 0640 "${owner[@]}" "deploy/etc/$f" "$ETC/$f"
done
install -d -m 0750 ${USER_:+-o "$USER_"} "${owner[@]}" "$VAR" "$VAR/gateway"

if [ -d "$UNITS" ] && [ -n "$USER_" ]; then
  install -m 0644 deploy/systemd/*.service "$UNITS/"
  install -D -m 0644 deploy/systemd/edgecascade.sysusers.conf /usr/lib/sysusers.d/edgecascade.conf
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl try-restart edgecascade-gateway.service "edgecascade-worker@*.service" edgecascade-devices.service
    echo "installed; start with: systemctl enable --now edgecascade-gateway edgecascade-worker@1"
  fi
fi
"$PREFIX/venv/bin/edgecascade" --version
