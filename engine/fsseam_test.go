package engine

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bannedFileCalls are the calls that do file I/O around the FS seam.
var bannedFileCalls = map[string]bool{
	"os.Open": true, "os.Create": true, "os.OpenFile": true, "os.Rename": true,
	"os.Remove": true, "os.RemoveAll": true, "os.ReadFile": true, "os.WriteFile": true,
	"os.ReadDir": true, "os.Mkdir": true, "os.MkdirAll": true, "os.Truncate": true,
	"os.CreateTemp": true, "syscall.Mmap": true, "syscall.Munmap": true,
	"unix.Mmap": true, "unix.Munmap": true, "unix.Open": true, "syscall.Open": true,
}

// TestFSSeam fails when a non-test file of engine, tagindex or downsample
// (or their subpackages) does file I/O without the FS seam (Pebble's internal/lint):
// only the methods of OSFS may call the os and mmap functions.
func TestFSSeam(t *testing.T) {
	var found []string
	for _, root := range []string{".", "../tagindex", "../downsample"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			found = append(found, seamViolations(t, path)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range found {
		t.Errorf("%s: file I/O around the FS seam; go through FS (engine/vfs.go)", f)
	}
}

// seamViolations returns the banned calls of one file, outside OSFS's
// methods, as file:line: call.
func seamViolations(t *testing.T, path string) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, decl := range f.Decls {
		if fd, ok := decl.(*ast.FuncDecl); ok && isOSFSMethod(fd) {
			continue
		}
		ast.Inspect(decl, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && bannedFileCalls[pkg.Name+"."+sel.Sel.Name] {
				out = append(out, fset.Position(sel.Pos()).String()+": "+pkg.Name+"."+sel.Sel.Name)
			}
			return true
		})
	}
	return out
}

func isOSFSMethod(fd *ast.FuncDecl) bool {
	if fd.Recv == nil || len(fd.Recv.List) != 1 {
		return false
	}
	id, ok := fd.Recv.List[0].Type.(*ast.Ident)
	return ok && id.Name == "OSFS"
}

// TestFSSeamCatches checks the lint itself on a file that breaks the rule.
func TestFSSeamCatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.go")
	src := "package x\nimport \"os\"\nfunc f() { os.Open(\"a\"); os.Stat(\"b\") }\n" +
		"func (OSFS) g() { os.Remove(\"c\") }\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := seamViolations(t, path)
	if len(got) != 1 || !strings.HasSuffix(got[0], "os.Open") {
		t.Fatalf("violations %q, want exactly the os.Open outside OSFS", got)
	}
}
