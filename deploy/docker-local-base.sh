#!/usr/bin/env bash
# Make a local Debian bookworm base image with python3 when no image registry can be
# reached (only Debian's package mirror): debootstrap a minimal root filesystem and
# `docker import` it. The host's CA bundle is copied in, so pip inside the build trusts
# what the host trusts (a TLS-inspecting proxy, for instance).
#   sudo bash deploy/docker-local-base.sh [tag]      # default edgecascade-base:bookworm
set -euo pipefail
tag=${1:-edgecascade-base:bookworm}
docker=${DOCKER:-docker}
command -v debootstrap >/dev/null || { echo "needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" http://deb.debian.org/debian >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | "$docker" import - "$tag" >/dev/null
echo "$tag"
