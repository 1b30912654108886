//go:build !linux

package alarm

// DiskFree is not implemented here, so the disk alarm never raises.
func DiskFree(dir string) (int64, error) { return 0, ErrUnsupported }

// TotalMemory is not implemented here, so a memory watermark must be an
// absolute size.
func TotalMemory() (int64, error) { return 0, ErrUnsupported }
