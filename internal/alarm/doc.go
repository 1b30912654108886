// Package alarm owns Loft's resource alarms, modelled on RabbitMQ's: a disk
// alarm while free space on the data directory's file system is below a
// limit, and a memory alarm while the process holds more memory than a high
// watermark. While either is raised, publishers should be held back so that
// consumers can drain what is stored; the AMQP listener does this with
// connection.blocked and connection.unblocked.
//
// # Checks
//
// A [Monitor] measures both resources every [Config.Interval] on one
// goroutine, the only writer of the alarm state. An alarm is raised when its
// limit is crossed and cleared on the first check back on the safe side.
// There is no hysteresis beyond the check period, as in RabbitMQ: a value
// hovering at the limit flaps, which is what an operator should see.
//
// Free space is statfs(2)'s f_bavail, the blocks an unprivileged process may
// still use, so the root reserve does not hide a full disk. Memory is what
// the Go runtime holds from the operating system and has not released back,
// from runtime/metrics; it does not count memory mapped files, which the
// kernel can reclaim.
//
// # Platforms
//
// Free space and total memory are read on Linux only. Elsewhere those reads
// fail with [ErrUnsupported]: the disk alarm then never raises (the failure
// is logged once), and a memory watermark must be given as a size rather
// than a fraction of physical memory.
//
// # What this package must not do
//
// It only observes and reports. It knows nothing of connections or
// protocols and blocks nobody itself; subscribers decide what an alarm
// means for them. It never writes to the file system it watches.
package alarm
