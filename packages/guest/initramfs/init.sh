#!/bin/sh
# /init of the iohang test guest (PID 1): mount, load the drivers, say ready, run the agent.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /mnt /run

# /etc/iohang/modules lists the .ko files with every module after its dependencies.
release=$(uname -r)
while read -r ko; do
  insmod "/lib/modules/$release/$ko" || echo "iohang: insmod $ko failed"
done </etc/iohang/modules

echo "IOHANG-GUEST-READY uptime=$(cut -d' ' -f1 /proc/uptime)"

# The agent runs as a child, not exec'd: as a non-session-leader it cannot make ttyS1 its
# controlling terminal, and PID 1 (this shell, waiting for it) reaps orphaned processes.
/bin/iohang-agent
echo "iohang: the agent exited with status $?; powering off"
poweroff -f
