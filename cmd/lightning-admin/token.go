package main

import (
	"flag"
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

// token runs `token create|list|revoke --file FILE`: it edits the token
// file the server reads (auth.token_file); send the server SIGHUP to
// apply the change.
func token(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: lightning-admin token create|list|revoke --file FILE ...")
		return 2
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "token file (the server's auth.token_file)")
	var scopes, dbs listFlag
	var matchers listFlag
	fs.Var(&scopes, "scope", "create: read, write or admin (repeat or comma-separate)")
	fs.Var(&dbs, "db", "create: limit the token to these databases (the db label)")
	fs.Var(&matchers, "match", `create: limit the token to series matching this selector, e.g. {team="a"} (repeatable)`)
	desc := fs.String("description", "", "create: what the token is for")
	user := fs.String("user", "", "create: the MQTT username the token may connect as (for the ACL file's user lines)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "token: --file is required")
		return 2
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
