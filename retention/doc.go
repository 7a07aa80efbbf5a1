// Package retention holds the rules that say how long each series' samples
// are kept: a global default, one duration per database (the "db" label),
// and a list of label-matcher rules where the first match wins. InfluxDB
// retention policies (CREATE RETENTION POLICY ... DEFAULT) set the
// per-database duration at run time and are persisted by Store.
//
// The package depends on series only. The engine asks a Policy, through
// the narrow interface it declares, how long a series ID is kept; Policy
// resolves the ID's labels through the Labels interface declared here
// (the registry satisfies it) and caches the answer per ID.
package retention
