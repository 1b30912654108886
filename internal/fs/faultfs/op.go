package faultfs

import "strconv"

// Op names a kind of file system call an Injector may fail.
type Op uint8

// The operations, one per method of fs.FS and fs.File. RemoveAll counts as
// OpRemove, MkdirAll as OpMkdir, File.Size as OpStat; OpOpen covers both
// OpenFile and Open; OpClose covers closing files and locks.
const (
	OpCreate Op = iota
	OpOpen
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpRemove
	OpRename
	OpMkdir
	OpReadDir
	OpStat
	OpSyncDir
	OpLock
	OpClose

	numOps
)

var opNames = [numOps]string{
	OpCreate:   "create",
	OpOpen:     "open",
	OpRead:     "read",
	OpWrite:    "write",
	OpSync:     "sync",
	OpTruncate: "truncate",
	OpRemove:   "remove",
	OpRename:   "rename",
	OpMkdir:    "mkdir",
	OpReadDir:  "readdir",
	OpStat:     "stat",
	OpSyncDir:  "syncdir",
	OpLock:     "lock",
	OpClose:    "close",
}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}
