#!/bin/sh
# init.sh — /init of the kernel lane's initramfs (busybox sh, PID 1). Mounts the pseudo
# filesystems, creates the fixture mdevs through sysfs, runs the guest test runner with the
# console quiet (kernel messages go to dmesg, printed after the run), and powers off with
# `reboot -f` (QEMU runs with -no-reboot, so that ends QEMU). Never returns.
export PATH=/bin:/usr/bin
export HOME=/root
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/savevm
echo "SAVEVM-INIT: start, uptime $(cut -d' ' -f1 /proc/uptime) s, $(uname -r), cmdline: $(cat /proc/cmdline)"

# Fixture mdevs (the issue's set: two 2-port mtty, one 1-port mtty; plus an mdpy without migration).
MTTY=/sys/class/mtty/mtty/mdev_supported_types
MDPY=/sys/class/mdpy/mdpy/mdev_supported_types
create() { # key type-dir uuid
  if echo "$3" > "$2/create"; then
    echo "SAVEVM-INIT: created $1 $3 ($(basename "$2"))"
  else
    echo "SAVEVM-INIT: FAILED to create $1 ($2)"
  fi
}
create mtty2a $MTTY/mtty-2 83b8f4f2-509f-4a2f-9c1e-e6bfe0fa1001
create mtty2b $MTTY/mtty-2 83b8f4f2-509f-4a2f-9c1e-e6bfe0fa1002
create mtty1 $MTTY/mtty-1 83b8f4f2-509f-4a2f-9c1e-e6bfe0fa1003
create mdpy $MDPY/mdpy-vga 83b8f4f2-509f-4a2f-9c1e-e6bfe0fa2001
cat > /run/savevm/fixture.json <<JSON
{"mtty2a":"83b8f4f2-509f-4a2f-9c1e-e6bfe0fa1001","mtty2b":"83b8f4f2-509f-4a2f-9c1e-e6bfe0fa1002","mtty1":"83b8f4f2-509f-4a2f-9c1e-e6bfe0fa1003","mdpy":"83b8f4f2-509f-4a2f-9c1e-e6bfe0fa2001"}
JSON

# Keep kernel messages off the console while the runner prints (they are in dmesg below).
echo 1 > /proc/sys/kernel/printk
# A raw, modem-line-free second serial port for the machine-readable result block.
[ -e /dev/ttyS1 ] && stty -F /dev/ttyS1 raw -echo clocal 2>/dev/null
cd /app
echo "SAVEVM-INIT: running the guest runner, uptime $(cut -d' ' -f1 /proc/uptime) s"
/usr/bin/node test/kernel/guest/runner.mjs
rc=$?
echo "SAVEVM-INIT: runner exited with $rc, uptime $(cut -d' ' -f1 /proc/uptime) s"
echo "=====SAVEVM-DMESG-BEGIN====="
dmesg | tail -n 200
echo "=====SAVEVM-DMESG-END====="
echo "SAVEVM-INIT: power off"
sync
reboot -f
sleep 5
echo "SAVEVM-INIT: reboot -f returned"
