#!/usr/bin/env bash
# Make a local Debian-family base image with python3 when no image registry can be
# reached (only the distribution's package mirror): debootstrap a minimal root filesystem
# of this machine's release, from the mirror this machine's apt already uses
# (/etc/apt/sources.list or /etc/apt/sources.list.d/*.sources), and `docker import` it.
# The host's CA bundle is copied in, so pip inside the build trusts what the host trusts
# (a TLS-inspecting proxy, for instance). The image is labelled with the hash of its
# inputs and kept when the label matches.
#   sudo bash deploy/docker-local-base.sh [tag]      # default edgecascade-base:<suite>
#   bash deploy/docker-local-base.sh --print-tag     # the default tag, nothing built
# Environment: EC_SUITE, EC_MIRROR override the release and the mirror.
set -euo pipefail
docker=${DOCKER:-docker}
LABEL=org.edgecascade.inputs
PACKAGES=python3,python3-venv,ca-certificates
suite=${EC_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
tag=${1:-edgecascade-base:$suite}
if [ "$tag" = --print-tag ]; then echo "edgecascade-base:$suite"; exit 0; fi

# The first mirror URI whose suites include $suite, from one-line or deb822 sources.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v s="$suite" '$1 == "deb" { sub(/\[[^]]*\] */, ""); if ($3 == s) { print $2; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v s="$suite" '
      /^[ \t]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
      END { if (uri != "" && ok) print uri }' "$f"
  done
}
mirror=${EC_MIRROR:-$(apt_mirror | head -n1)}
[ -n "$mirror" ] || { echo "no apt mirror for '$suite' in /etc/apt/sources.list{,.d} (set EC_MIRROR)" >&2; exit 2; }

h=$(printf '%s\n' "$suite" "$mirror" "$PACKAGES" "$(sha256sum "$0" /etc/ssl/certs/ca-certificates.crt)" \
    | sha256sum | cut -c1-16)
if [ "$("$docker" image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$tag" 2>/dev/null)" = "$h" ]; then
  echo "$tag"; exit 0
fi
command -v debootstrap >/dev/null || { echo "needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite from $mirror" >&2
debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root" "$mirror" >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | "$docker" import --change "LABEL $LABEL=$h" - "$tag" >/dev/null
echo "$tag"
