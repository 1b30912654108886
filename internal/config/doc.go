// Package config owns the settings of a Loft server and where they come from.
//
// # One definition per setting
//
// Each setting is defined once, as a flag on a [pflag.FlagSet] (see
// [Register]). Everything else is derived from that flag: its environment
// variable is LOFT_ followed by the flag name in upper case with dashes as
// underscores (--data-dir is LOFT_DATA_DIR), and its config-file key is the
// flag name itself. Values from the environment and the file are applied
// through the flag's own pflag.Value, so a value is parsed the same way
// whatever its source, and a new setting needs no code beyond its flag.
//
// # Precedence
//
// Lowest to highest: built-in defaults ([Default]), the config file, LOFT_*
// environment variables, command-line flags. The file is optional and is
// chosen with --config or LOFT_CONFIG.
//
// # What this package must not do
//
// It does not act on the settings (no directories are created, no sockets
// opened) and it never reads the process environment by itself: callers
// pass a lookup function, which keeps tests hermetic. The one fact it reads
// from the host is the size of physical memory (through
// alarm.TotalMemory), to turn a memory high watermark given as a fraction
// into the byte count Config holds.
package config
