#!/usr/bin/env bash
# `npm run sandbox:image`: builds the local Docker image zt-busybox:local that the example
# policy allows, from Debian's busybox-static, with `docker import` (nothing is pulled from
# a registry). The rootfs holds busybox and its applet links in /bin, an /etc/passwd that
# names uid 65534 (the broker's user), and empty /tmp (a tmpfs at run time).
#
# The image id it built is pinned in the policy bundle's images.lock.json (ZT_POLICY_DIR,
# else ./policies): the policy runs that exact image, never whatever is tagged with its
# name later. Rebuilding changes the id, and so the bundle's policy_hash.
set -euo pipefail

IMAGE="${1:-zt-busybox:local}"
BUSYBOX="${ZT_BUSYBOX:-}"
if [ -z "$BUSYBOX" ]; then
  for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ] && ! ldd "$candidate" >/dev/null 2>&1; then BUSYBOX="$candidate"; break; fi
  done
fi
if [ -z "$BUSYBOX" ]; then
  echo "sandbox:image: no static busybox found; install Debian's busybox-static (apt-get install -y busybox-static) or set ZT_BUSYBOX" >&2
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  echo "sandbox:image: no Docker engine answers (is dockerd running, and may this user use its socket?)" >&2
  exit 2
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -c . \
  | docker import --change 'ENV PATH=/bin' --message 'zt-infra sandbox image (busybox-static)' - "$IMAGE" >/dev/null
ID=$(docker image inspect --format '{{.Id}}' "$IMAGE")
LOCK="${ZT_POLICY_DIR:-./policies}/images.lock.json"
node -e '
  const [file, image, id] = process.argv.slice(1);
  const fs = require("node:fs");
  const lock = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  lock[image] = id;
  const sorted = Object.fromEntries(Object.entries(lock).sort(([a], [b]) => (a < b ? -1 : 1)));
  fs.writeFileSync(file, JSON.stringify(sorted, null, 2) + "\n");
' "$LOCK" "$IMAGE" "$ID"
echo "sandbox:image: built $IMAGE ($ID) from $BUSYBOX; pinned in $LOCK"
