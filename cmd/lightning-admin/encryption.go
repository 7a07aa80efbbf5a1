package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// keyFileFlag adds --encryption-key-file to a command that reads a data
// directory.
func keyFileFlag(fs *flag.FlagSet) *string {
	return fs.String("encryption-key-file", "", "key file of an encrypted data directory (the server's encryption.key_file)")
}

// dataFS returns the file system to read a data directory through: sealed
// files opened with the keys of keyFile, or the plain one.
func dataFS(keyFile string) (engine.FS, error) {
	if keyFile == "" {
		return engine.OSFS{}, nil
	}
	keys, err := encrypt.LoadKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	return engine.NewEncFS(engine.OSFS{}, keys), nil
}

func keygenCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("keygen", "keygen\n\n"+
		"Prints a new random AES-256 key as a key-file line: 64 hex digits and its key ID as a comment.\n"+
		"Append it to the key file (encryption.key_file) and restart the server: new files are sealed with\n"+
		"the last key of the file, files sealed with the older keys stay readable (docs/security.md).",
		"  lightning-admin keygen > /etc/lightning/keys          # a new key file\n"+
			"  lightning-admin keygen >> /etc/lightning/keys         # rotation: the new key seals new files\n",
		stdout, stderr)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(fs, "keygen takes no arguments")
	}
	line, err := encrypt.GenerateKey()
	if err != nil {
		return fail(stderr, "keygen", err)
	}
	fmt.Fprintln(stdout, line)
	return 0
}

// resealable are the plain files of a data directory that reencrypt
// seals: every engine file (raw and rollup tiers) and the state files
// beside the engine that hold labels.
func resealable(name string) bool {
	switch name {
	case "MANIFEST", "TOMBSTONES", "series.snap", "rollup.state", "influx-catalog.json", "retention_policies.json":
		return true
	}
	switch filepath.Ext(name) {
	case ".wal", ".seg", ".tix":
		return true
	}
	return false
}

func reencryptCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reencrypt", "reencrypt --data-dir DIR --encryption-key-file KEYS\n\n"+
		"Rewrites every file of a data directory sealed with a key other than the newest of the key file,\n"+
		"and every plain engine file (a directory that ran without encryption), sealed with the newest key,\n"+
		"each through a temporary file, fsync and rename. Run it with the server stopped, before removing an\n"+
		"old key from the key file (docs/security.md \"Key file and rotation\"). A file with damaged frames is\n"+
		"reported and left as it is (resealing would make the damage authentic); the exit code is then 1.",
		"  lightning-admin keygen >> /etc/lightning/keys\n"+
			"  lightning-admin reencrypt --data-dir /var/lib/lightning --encryption-key-file /etc/lightning/keys\n",
		stdout, stderr)
	dir := fs.String("data-dir", "", "data directory (the server stopped)")
	keyFile := keyFileFlag(fs)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if *dir == "" || *keyFile == "" || fs.NArg() > 0 {
		return usageError(fs, "--data-dir and --encryption-key-file are required")
	}
	keys, err := encrypt.LoadKeyFile(*keyFile)
	if err != nil {
		return fail(stderr, "reencrypt", err)
	}
	efs := engine.NewEncFS(engine.OSFS{}, keys)
	lock, err := engine.LockDir(efs, *dir)
	if err != nil {
		return fail(stderr, "reencrypt", err)
	}
	defer lock.Close()
	var done, kept, bad int
	err = filepath.WalkDir(*dir, func(path string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" || strings.HasSuffix(d.Name(), ".tmp") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		from := "plain"
		switch {
		case len(data) >= encrypt.HeaderSize && encrypt.IsSealed(data):
			id := encrypt.KeyID(binary.LittleEndian.Uint32(data[8:12]))
			if id == keys.Active() {
				kept++
				return nil
			}
			from = "key " + id.String()
		case len(data) == 0 || !resealable(d.Name()):
			return nil
		}
		plain, damaged, err := keys.ReadAll(path, data)
		if err != nil {
			return err
		}
		if damaged > 0 {
			fmt.Fprintf(stderr, "reencrypt: %s: %d damaged frames; left as it is (lightning-admin verify)\n", path, damaged)
			bad++
			return nil
		}
		if err := engine.WriteFileAtomic(efs, path, plain); err != nil {
			return fmt.Errorf("rewrite %s: %w", path, err)
		}
		fmt.Fprintf(stdout, "%s: %s -> key %s\n", path, from, keys.Active())
		done++
		return nil
	})
	if err != nil {
		return fail(stderr, "reencrypt", err)
	}
	fmt.Fprintf(stdout, "%d files resealed with key %s, %d already sealed with it, %d left damaged\n", done, keys.Active(), kept, bad)
	if bad > 0 {
		return 1
	}
	return 0
}
