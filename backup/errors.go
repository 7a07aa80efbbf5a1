package backup

import "errors"

var (
	// ErrNotEmpty is returned by Restore for a data directory that holds
	// files already.
	ErrNotEmpty = errors.New("data directory is not empty")
	// ErrNoBackup is returned for a backup directory without the named
	// backup (or without any).
	ErrNoBackup = errors.New("no such backup")
	// ErrChecksum marks a file whose bytes do not match its manifest.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrBadName is returned for a backup name with a path separator.
	ErrBadName = errors.New("invalid backup name")
	// ErrLocked is returned when another Create or Prune holds the backup
	// directory.
	ErrLocked = errors.New("backup directory is in use by another backup or prune")
)
