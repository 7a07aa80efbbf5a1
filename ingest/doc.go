// Package ingest holds Lightning DB's protocol front ends.
package ingest
