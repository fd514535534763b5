#!/bin/sh
# Build (or reuse) the Debian 12 root file system the boot test runs systemd in, and import it
# as a Docker image. Prints the image reference on the last stdout line.
#
#   build_rootfs.sh CACHE_DIR [PACKAGE...]
#
# The root is `debootstrap --variant=minbase bookworm` with systemd, dbus and the given extra
# packages (the boot test passes the Depends of the berth .deb, so that `dpkg -i` needs no
# network later). The result is cached, keyed by the package list and this script's revision:
#   CACHE_DIR/rootfs-KEY.tar.zst    the root file system (survives `docker image rm`)
#   image berth-e2e/debian:12-KEY   the imported image
# A re-run with the same key only checks that the image exists (or re-imports the tarball).
#
# The mirror: $BERTH_E2E_MIRROR, else the first Debian URI in apt's sources, else
# http://deb.debian.org/debian. Exit status 3 = the mirror cannot be reached (the message
# says which URL); any other failure: non-zero with debootstrap's log tail.
set -eu

# Bump when the post-processing below changes (the cache key includes it).
ROOTFS_REV=1
SUITE=bookworm
BASE_PACKAGES="systemd systemd-sysv dbus ca-certificates iproute2 procps"

if [ $# -lt 1 ]; then
	echo "usage: $0 CACHE_DIR [PACKAGE...]" >&2
	exit 2
fi
CACHE=$1
shift
mkdir -p "$CACHE"

for tool in debootstrap zstd docker flock; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
		echo "build_rootfs: $tool is not installed (scripts/setup --e2e installs what the boot test needs)" >&2
		exit 1
	fi
done

# The package list: base + extra, sorted and deduplicated: this is the cache key.
PACKAGES=$(printf '%s\n' $BASE_PACKAGES "$@" | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//')
KEY=$(printf 'rev=%s suite=%s packages=%s\n' "$ROOTFS_REV" "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
IMAGE="berth-e2e/debian:12-$KEY"
TARBALL="$CACHE/rootfs-$KEY.tar.zst"

# One builder at a time per cache directory.
exec 9>"$CACHE/.lock"
flock -w 900 9 || { echo "build_rootfs: timed out waiting for $CACHE/.lock" >&2; exit 1; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
	echo "build_rootfs: cached image $IMAGE" >&2
	echo "$IMAGE"
	exit 0
fi

import_tarball() {
	zstd -q -dc "$TARBALL" | docker import \
		--change 'CMD ["/lib/systemd/systemd"]' \
		--change 'ENV container=docker' \
		- "$IMAGE" >/dev/null
}

if [ -s "$TARBALL" ]; then
	echo "build_rootfs: importing cached $TARBALL as $IMAGE" >&2
	import_tarball
	echo "$IMAGE"
	exit 0
fi

mirror() {
	if [ -n "${BERTH_E2E_MIRROR:-}" ]; then
		echo "$BERTH_E2E_MIRROR"
		return
	fi
	# deb822 sources first (URIs: lines), then one-line sources; the first URI that serves the
	# main archive (not -security, not a third-party repository).
	uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' |
		grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)
	if [ -z "$uri" ]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; break } }' |
			grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=$(mirror)

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
if [ ! -r "$KEYRING" ]; then
	echo "build_rootfs: $KEYRING is missing: debootstrap cannot verify the mirror (apt-get install debian-archive-keyring)" >&2
	exit 1
fi

# Fail early and clearly when the mirror is not reachable.
if command -v curl >/dev/null 2>&1 && ! curl -fsS -m 20 -o /dev/null "${MIRROR%/}/dists/$SUITE/Release" 2>"$CACHE/.mirror-check.err"; then
	echo "build_rootfs: cannot reach the Debian mirror ${MIRROR%/}/dists/$SUITE/Release:" \
		"$(cat "$CACHE/.mirror-check.err")" >&2
	echo "build_rootfs: set BERTH_E2E_MIRROR to a reachable Debian mirror (or BERTH_E2E_SKIP=1 to skip the boot test)" >&2
	exit 3
fi
rm -f "$CACHE/.mirror-check.err"

WORK=$(mktemp -d "$CACHE/build.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
ROOT="$WORK/root"

INCLUDE=$(echo "$PACKAGES" | tr ' ' ',')
echo "build_rootfs: debootstrap $SUITE from $MIRROR with $INCLUDE" >&2
start=$(date +%s)
DEBOOTSTRAP=$(command -v debootstrap || echo /usr/sbin/debootstrap)
if ! "$DEBOOTSTRAP" --keyring="$KEYRING" --variant=minbase --include="$INCLUDE" --components=main \
	"$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
	echo "build_rootfs: debootstrap failed (mirror $MIRROR):" >&2
	tail -n 30 "$WORK/debootstrap.log" >&2
	[ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
	exit 1
fi
echo "build_rootfs: debootstrap took $(($(date +%s) - start)) s" >&2

# ---- make it a container that boots systemd ---------------------------------------------------
# Docker in the guest is installed only so that dpkg's Depends are met: berth talks to the
# HOST's dockerd through the mounted socket. The guest's own Docker must not start (nor take
# /run/docker.sock over with its socket unit).
for u in docker.service docker.socket containerd.service; do
	ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done
# Units that have nothing to do in a container (no consoles, no kernel, no udev).
for u in getty@tty1.service console-getty.service systemd-udevd.service \
	systemd-udev-trigger.service systemd-modules-load.service sys-kernel-config.mount \
	sys-kernel-debug.mount sys-kernel-tracing.mount systemd-remount-fs.service \
	apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
	ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done
echo "berth-e2e" >"$ROOT/etc/hostname"
: >"$ROOT/etc/machine-id"  # systemd generates one at boot
# The apt sources of the mirror used (for debugging inside the guest), then a small image.
echo "deb $MIRROR $SUITE main" >"$ROOT/etc/apt/sources.list"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT/debootstrap"

tar -C "$ROOT" --numeric-owner -c . | zstd -q -T0 -3 -o "$WORK/rootfs.tar.zst"
mv "$WORK/rootfs.tar.zst" "$TARBALL"
# A new key means the package list changed: the older tarballs (~150 MB each) are not needed.
# (Images of other keys stay: another build directory may still use them.)
for old in "$CACHE"/rootfs-*.tar.zst; do
	[ "$old" = "$TARBALL" ] || rm -f "$old"
done
import_tarball
echo "build_rootfs: built $IMAGE ($(du -h "$TARBALL" | cut -f1) compressed) in $(($(date +%s) - start)) s" >&2
echo "$IMAGE"
