#!/usr/bin/env bash
# Builds the base root filesystem image of the host-test guests: Debian 12 (bookworm) minbase with
# sshd, procps (sysctl), passwd (useradd), sudo, curl, openssl and systemd, booted by user-mode Linux
# either with a minimal PID 1 (/sbin/hrke2-init: ~4 s to SSH, for tests that need no services) or
# with systemd (~20 s, for tests that restart units, see shared notes). run.sh caches the result
# under a key that is the hash of this file, so any change here rebuilds the image.
#
# Usage: build-image.sh OUTDIR   (as root; writes OUTDIR/base.img and OUTDIR/host_ed25519_key.pub)
set -euo pipefail

out=${1:?usage: build-image.sh OUTDIR}
[ "$(id -u)" -eq 0 ] || { echo "build-image.sh: needs root (debootstrap)" >&2; exit 1; }

# The Debian mirror is whatever this machine's apt uses (never hard-coded): the first URI of the
# deb822 stanza that carries the plain "bookworm" suite, or the classic sources.list as a fallback.
debian_mirror() {
  local f=/etc/apt/sources.list.d/debian.sources
  if [ -r "$f" ]; then
    awk '
      /^[[:space:]]*$/ { if (suite && uri) { print uri; exit } suite = 0; uri = ""; next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
      END { if (suite && uri) print uri }
    ' "$f" | head -n 1
  fi
  if [ -r /etc/apt/sources.list ]; then
    awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list
  fi
}
mirror=$(debian_mirror | head -n 1)
[ -n "$mirror" ] || { echo "build-image.sh: no bookworm mirror found in the apt configuration" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/hrke2-image.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
root=$work/root

echo "build-image: debootstrap bookworm (minbase) from the configured mirror" >&2
debootstrap --variant=minbase --include=openssh-server,procps,iproute2,sudo,curl,ca-certificates,openssl,systemd-sysv,udev,dbus \
  bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

echo guest >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 guest\n' >"$root/etc/hosts"
: >"$root/etc/resolv.conf"

# Login: keys only. The per-run throwaway public key arrives on the kernel command line and the
# init below installs it, so the cached image holds no key of any run.
cat >"$root/etc/ssh/sshd_config.d/hrke2-test.conf" <<'CONF'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
MaxSessions 50
CONF
# sshd runs this for every session (not for the master connection itself): the test counts the
# SSH sessions each script run opens on the node.
cat >"$root/etc/ssh/sshrc" <<'CONF'
echo session >>/run/hrke2-ssh-sessions
CONF

# deploy: unprivileged, passwordless sudo, login shell dash (proves the remote command is plain sh).
# nosudo: unprivileged without sudo rights (must get a clear error, not a prompt).
chroot "$root" useradd -m -s /bin/sh deploy
chroot "$root" useradd -m -s /bin/bash nosudo
echo 'deploy ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/deploy"
chmod 0440 "$root/etc/sudoers.d/deploy"

# Everything a guest needs from the run, whichever init boots it: network, the run's SSH key, the
# session counter. The throwaway public key arrives on the kernel command line (hrke2.key=).
cat >"$root/sbin/hrke2-setup" <<'SETUP'
#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
hostname guest
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
key=
for word in $(cat /proc/cmdline); do
  case $word in hrke2.key=*) key=${word#hrke2.key=} ;; esac
done
for user in root deploy nosudo; do
  home=$(getent passwd "$user" | cut -d: -f6)
  install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
  echo "ssh-ed25519 $key hrke2-host-test" >"$home/.ssh/authorized_keys"
  chown "$user:$user" "$home/.ssh/authorized_keys"
done
install -m 0666 /dev/null /run/hrke2-ssh-sessions
SETUP
chmod 0755 "$root/sbin/hrke2-setup"

cat >"$root/sbin/hrke2-init" <<'INIT'
#!/bin/bash
# Minimal PID 1 of the host-test guest: mounts, hrke2-setup, sshd. Nothing else runs.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -o remount,rw /
/sbin/hrke2-setup
mkdir -p -m 0755 /run/sshd
/usr/sbin/sshd -E /run/sshd.log
echo "hrke2-init: sshd started"
# Idle without waking up (a polling loop would fork every second and skew the measured run times);
# bash, as PID 1, reaps the orphans it inherits when SIGCHLD interrupts the wait.
while :; do
  sleep infinity &
  wait
done
INIT
chmod 0755 "$root/sbin/hrke2-init"

# Under systemd (init=/lib/systemd/systemd) the same setup runs as a unit before sshd. Timers,
# time sync and consoles are masked: under UML every syscall is traced, and they only cost time.
cat >"$root/etc/systemd/system/hrke2-setup.service" <<'UNIT'
[Unit]
Description=hardened-rke2 host-test guest setup (network, SSH key)
DefaultDependencies=no
After=local-fs.target
Before=ssh.service network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/hrke2-setup

[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable hrke2-setup.service ssh.service >/dev/null 2>&1
chroot "$root" systemctl set-default multi-user.target >/dev/null 2>&1
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
  systemd-timesyncd.service getty@tty0.service getty@tty1.service serial-getty@ttyS0.service \
  console-getty.service getty.target systemd-networkd.service systemd-resolved.service \
  systemd-tmpfiles-clean.timer man-db.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

cp "$root/etc/ssh/ssh_host_ed25519_key.pub" "$work/host_ed25519_key.pub"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log

# ext4 image straight from the directory: no loop device, no mount.
mke2fs -q -t ext4 -L hrke2root -d "$root" "$work/base.img" 1536M
mkdir -p "$out"
mv "$work/host_ed25519_key.pub" "$out/host_ed25519_key.pub"
mv "$work/base.img" "$out/base.img"
echo "build-image: done ($out/base.img)" >&2
