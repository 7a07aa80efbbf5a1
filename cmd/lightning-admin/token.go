package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lightningdb/lightningdb/auth"
)

// listFlag collects a repeated or comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// splitFlag splits each comma-separated value of a repeated flag.
func splitFlag(l listFlag) []string {
	var out []string
	for _, v := range l {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

const tokenExamples = `  lightning-admin token create --file /etc/lightning/tokens.yaml --scope write --db factory --description "plant telegraf"
  lightning-admin token create --file /etc/lightning/tokens.yaml --scope read --match '{team="a"}'
  lightning-admin token create --file /etc/lightning/tokens.yaml --scope write --user sensor-hall-1   # an MQTT user
  lightning-admin token list --file /etc/lightning/tokens.yaml
  lightning-admin token revoke --file /etc/lightning/tokens.yaml 3f9c2a1b
  systemctl reload lightning-db    # SIGHUP: the server applies the change
`

// token runs `token create|list|revoke --file FILE`: it edits the token
// file the server reads (auth.token_file); send the server SIGHUP to
// apply the change.
func token(args []string, stdout, stderr io.Writer) int {
	const synopsis = "token create|list|revoke --file FILE ...\n\n" +
		"Edits the server's token file (auth.token_file), which keeps only each token's SHA-256. create\n" +
		"prints the new token once on stdout; list shows IDs, scopes and limits; revoke ID removes one.\n" +
		"Send the server SIGHUP to apply a change (docs/security.md)."
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		fs := newFlags("token", synopsis, tokenExamples, stdout, stderr)
		if len(args) == 0 {
			return usageError(fs, "want create, list or revoke")
		}
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	fs := newFlags("token "+args[0], synopsis, tokenExamples, stdout, stderr)
	file := fs.String("file", "", "token file (the server's auth.token_file)")
	var scopes, dbs listFlag
	var matchers listFlag
	fs.Var(&scopes, "scope", "create: read, write or admin (repeat or comma-separate)")
	fs.Var(&dbs, "db", "create: limit the token to these databases (the db label)")
	fs.Var(&matchers, "match", `create: limit the token to series matching this selector, e.g. {team="a"} (repeatable)`)
	desc := fs.String("description", "", "create: what the token is for")
	user := fs.String("user", "", "create: the MQTT username the token may connect as (for the ACL file's user lines)")
	if code, ok := parse(fs, args[1:], stdout); !ok {
		return code
	}
	if *file == "" {
		return usageError(fs, "--file is required")
	}
	f, err := auth.ReadTokenFile(*file)
	if err != nil {
		fmt.Fprintln(stderr, "token:", err)
		return 2
	}
	switch args[0] {
	case "list":
		listTokens(stdout, f)
		return 0
	case "create":
		e := auth.TokenEntry{Scopes: splitFlag(scopes), Databases: splitFlag(dbs), Matchers: matchers, Description: *desc, User: *user}
		secret, e, err := f.Create(e, time.Now())
		if err == nil {
			err = f.Write(*file)
		}
		if err != nil {
			fmt.Fprintln(stderr, "token create:", err)
			return 2
		}
		fmt.Fprintf(stderr, "created token %s; it is shown once. Send the server SIGHUP to load it.\n", e.ID)
		fmt.Fprintln(stdout, secret)
		return 0
	case "revoke":
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: lightning-admin token revoke --file FILE ID")
			return 2
		}
		if err := f.Revoke(fs.Arg(0)); err != nil {
			fmt.Fprintln(stderr, "token revoke:", err)
			return 1
		}
		if err := f.Write(*file); err != nil {
			fmt.Fprintln(stderr, "token revoke:", err)
			return 2
		}
		fmt.Fprintf(stderr, "revoked token %s. Send the server SIGHUP to apply.\n", fs.Arg(0))
		return 0
	}
	fmt.Fprintf(stderr, "token: unknown command %q\n", args[0])
	return 2
}

func listTokens(w io.Writer, f *auth.TokenFile) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCOPES\tDATABASES\tMATCHERS\tUSER\tCREATED\tDESCRIPTION")
	for _, e := range f.Tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, strings.Join(e.Scopes, ","), strings.Join(e.Databases, ","),
			strings.Join(e.Matchers, " "), e.User, e.Created.Format(time.RFC3339), e.Description)
	}
	tw.Flush()
}
