package main

import (
	"flag"
	"fmt"
	"io"

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
