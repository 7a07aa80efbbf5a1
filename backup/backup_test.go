package backup

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeTree writes files (slash paths to contents) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		path := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(c), 0o644))
	}
}

// readTree returns the regular files under dir.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	}))
	return out
}

var tree = map[string]string{
	"MANIFEST":                "manifest",
	"segments/000001.seg":     string(bytes.Repeat([]byte("seg1"), 10000)),
	"wal/000003.wal":          "wal",
	"rollup/5m/MANIFEST":      "tier",
	"retention_policies.json": "{}",
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	src, dest := t.TempDir(), t.TempDir()
	writeTree(t, src, tree)
	writeTree(t, src, map[string]string{"LOCK": "1", "snapshots/x/MANIFEST": "no", "series.snap.tmp": "no"})
	var last Progress
	st, err := Create(src, dest, Options{Name: "one", Progress: func(p Progress) { last = p }})
	require.NoError(t, err)
	require.Equal(t, len(tree), st.Files)
	require.Equal(t, len(tree), st.Written)
	require.Equal(t, Progress{Files: 5, FilesTotal: 5, Bytes: st.Bytes, BytesTotal: st.Bytes}, last)
	require.Less(t, st.WrittenBytes, st.Bytes, "objects are compressed")

	out := filepath.Join(t.TempDir(), "restored")
	_, err = Restore(dest, "", out, Options{})
	require.NoError(t, err)
	require.Equal(t, tree, readTree(t, out))

	_, err = Restore(dest, "", out, Options{})
	require.ErrorIs(t, err, ErrNotEmpty)
	_, err = Restore(dest, "nope", t.TempDir(), Options{})
	require.ErrorIs(t, err, ErrNoBackup)
	_, err = Restore(dest, "../x", t.TempDir(), Options{})
	require.ErrorIs(t, err, ErrBadName)
	_, err = Create(src, dest, Options{Name: "one"})
	require.ErrorIs(t, err, fs.ErrExist)
}

// TestIncrementalWritesOnlyNewObjects backs up twice: the second writes
// only the files that changed or are new.
func TestIncrementalWritesOnlyNewObjects(t *testing.T) {
	src, dest := t.TempDir(), t.TempDir()
	writeTree(t, src, tree)
	_, err := Create(src, dest, Options{Name: "a"})
	require.NoError(t, err)
	writeTree(t, src, map[string]string{"wal/000003.wal": "wal grew", "segments/000002.seg": "new"})
	st, err := Create(src, dest, Options{Name: "b"})
	require.NoError(t, err)
	require.Equal(t, 6, st.Files)
	require.Equal(t, 2, st.Written)
	st, err = Create(src, dest, Options{Name: "c", Full: true})
	require.NoError(t, err)
	require.Equal(t, 6, st.Written, "--full writes every object")

	names, err := List(dest)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, names)
	out := filepath.Join(t.TempDir(), "r")
	_, err = Restore(dest, "a", out, Options{})
	require.NoError(t, err)
	require.Equal(t, tree, readTree(t, out), "the older backup restores as it was")
}

// TestVerifyFindsDamage flips a byte of an object and removes another.
func TestVerifyFindsDamage(t *testing.T) {
	src, dest := t.TempDir(), t.TempDir()
	writeTree(t, src, tree)
	_, err := Create(src, dest, Options{Name: "a"})
	require.NoError(t, err)
	rep, err := Verify(dest, "", Options{})
	require.NoError(t, err)
	require.Empty(t, rep.Damage)
	require.Equal(t, 5, rep.Files)

	m, err := ReadManifest(dest, "a")
	require.NoError(t, err)
	for _, f := range m.Files {
		obj := objectPath(dest, f.SHA256)
		switch f.Path {
		case "segments/000001.seg":
			b, err := os.ReadFile(obj)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x40
			require.NoError(t, os.WriteFile(obj, b, 0o644))
		case "MANIFEST":
			require.NoError(t, os.Remove(obj))
		}
	}
	rep, err = Verify(dest, "a", Options{})
	require.NoError(t, err)
	require.Len(t, rep.Damage, 2)
	_, err = Restore(dest, "a", filepath.Join(t.TempDir(), "r"), Options{})
	require.Error(t, err)
}

// TestChecksumMismatch is a well-formed object whose bytes differ from
// the manifest's checksum.
func TestChecksumMismatch(t *testing.T) {
	src, dest := t.TempDir(), t.TempDir()
	writeTree(t, src, map[string]string{"a": "one", "b": "two"})
	_, err := Create(src, dest, Options{Name: "x"})
	require.NoError(t, err)
	m, err := ReadManifest(dest, "x")
	require.NoError(t, err)
	require.NoError(t, os.Rename(objectPath(dest, m.Files[1].SHA256), objectPath(dest, m.Files[0].SHA256)))
	rep, err := Verify(dest, "x", Options{})
	require.NoError(t, err)
	require.Len(t, rep.Damage, 2)
	require.True(t, errors.Is(rep.Damage[0].Err, ErrChecksum), "%v", rep.Damage[0].Err)
}

func TestWriteTar(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, tree)
	var buf bytes.Buffer
	m, err := WriteTar(src, &buf, Options{})
	require.NoError(t, err)
	require.Len(t, m.Files, 5)
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	var manifest Manifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		if h.Name == TarManifest {
			require.NoError(t, json.Unmarshal(b, &manifest))
			continue
		}
		got[h.Name] = string(b)
	}
	require.Equal(t, tree, got)
	require.Equal(t, m.Files, manifest.Files)
}

// TestPrune keeps the newest backups and the objects they name, and
// removes the rest, orphans of an interrupted backup included.
func TestPrune(t *testing.T) {
	src, dest := t.TempDir(), t.TempDir()
	writeTree(t, src, tree)
	for i, name := range []string{"a", "b", "c"} {
		writeTree(t, src, map[string]string{"wal/000003.wal": "wal " + name, "segments/00000" + string(rune('5'+i)) + ".seg": name})
		_, err := Create(src, dest, Options{Name: name})
		require.NoError(t, err)
	}
	orphan := objectPath(dest, strings.Repeat("0", 64))
	require.NoError(t, os.MkdirAll(filepath.Dir(orphan), 0o755))
	require.NoError(t, os.WriteFile(orphan, []byte("x"), 0o644))
	_, err := Prune(dest, 0)
	require.Error(t, err)

	st, err := Prune(dest, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, st.Backups)
	require.Equal(t, 3, st.Objects, "a's and b's WAL objects and the orphan")
	names, err := List(dest)
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, names)
	rep, err := Verify(dest, "", Options{})
	require.NoError(t, err)
	require.Empty(t, rep.Damage)
	out := filepath.Join(t.TempDir(), "r")
	_, err = Restore(dest, "c", out, Options{})
	require.NoError(t, err)
	require.Equal(t, readTree(t, src), readTree(t, out))

	l, err := lockDest(dest)
	require.NoError(t, err)
	_, err = Prune(dest, 1)
	require.ErrorIs(t, err, ErrLocked)
	_, err = Create(src, dest, Options{Name: "d"})
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, l.Close())
}

// TestRestoreTar restores WriteTar's stream, and refuses a stream whose
// bytes do not match its manifest or that has none.
func TestRestoreTar(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, tree)
	var buf bytes.Buffer
	_, err := WriteTar(src, &buf, Options{})
	require.NoError(t, err)
	stream := buf.Bytes()

	out := filepath.Join(t.TempDir(), "r")
	_, err = RestoreTar(bytes.NewReader(stream), out, Options{})
	require.NoError(t, err)
	require.Equal(t, tree, readTree(t, out))
	_, err = RestoreTar(bytes.NewReader(stream), out, Options{})
	require.ErrorIs(t, err, ErrNotEmpty)

	bad := bytes.Clone(stream)
	bad[bytes.Index(bad, []byte("seg1seg1"))+2] ^= 1
	_, err = RestoreTar(bytes.NewReader(bad), filepath.Join(t.TempDir(), "r"), Options{})
	require.ErrorIs(t, err, ErrChecksum)

	cut := stream[:bytes.Index(stream, []byte(TarManifest))-200]
	_, err = RestoreTar(bytes.NewReader(cut), filepath.Join(t.TempDir(), "r"), Options{})
	require.Error(t, err)
}

// TestRestoreTarRefusesEscape refuses an entry outside the data
// directory.
func TestRestoreTarRefusesEscape(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "../evil", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}))
	_, err := tw.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	dir := t.TempDir()
	_, err = RestoreTar(&buf, filepath.Join(dir, "r"), Options{})
	require.ErrorContains(t, err, "not a regular file inside the data directory")
	_, err = os.Stat(filepath.Join(dir, "evil"))
	require.True(t, os.IsNotExist(err))
}
