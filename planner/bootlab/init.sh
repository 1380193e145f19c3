#!/bin/sh
# planner bootlab /init: dump the guest kernel's memory evidence to the console in
# "==== NAME" sections between the PROBE-DUMP markers, then power off.
# Same sections as reference/bootlab-debian-6.1.md section 1.1, plus possible CPUs.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
dmesg -n 1            # stop console printk so the dump is not interleaved; the ring buffer still records everything
sec() { echo; echo "==== $1"; }
echo; echo "######## PROBE-DUMP-BEGIN ########"
sec "uname -a"; uname -a
sec "/proc/cmdline"; cat /proc/cmdline
sec "dmesg"; dmesg
sec "/proc/meminfo"; cat /proc/meminfo
sec "/proc/slabinfo"; cat /proc/slabinfo
sec "/proc/zoneinfo"; cat /proc/zoneinfo
sec "/proc/vmstat"; cat /proc/vmstat
sec "/proc/buddyinfo"; cat /proc/buddyinfo
sec "/proc/iomem"; cat /proc/iomem
sec "/proc/cpuinfo"; head -n 30 /proc/cpuinfo
sec "/proc/pagetypeinfo"; cat /proc/pagetypeinfo
sec "/proc/vmallocinfo"; cat /proc/vmallocinfo
sec "/proc/sys/vm/min_free_kbytes"; cat /proc/sys/vm/min_free_kbytes
sec "/sys/kernel/mm/transparent_hugepage/enabled"; cat /sys/kernel/mm/transparent_hugepage/enabled 2>&1
sec "/sys/devices/system/memory/block_size_bytes"; cat /sys/devices/system/memory/block_size_bytes 2>&1
sec "/sys/devices/system/cpu/possible"; cat /sys/devices/system/cpu/possible 2>&1
sec "/sys/devices/system/cpu/online"; cat /sys/devices/system/cpu/online 2>&1
sec "/proc/meminfo (again, end of dump)"; cat /proc/meminfo
echo; echo "######## PROBE-DUMP-END ########"
poweroff -f
