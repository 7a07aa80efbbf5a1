package series

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func canon(nv ...string) []byte { return FromStrings(nv...).AppendCanonical(nil) }

func TestRegistryConcurrentGetOrCreate(t *testing.T) {
	r := NewRegistry(RegistryOptions{CacheSize: 64}) // tiny cache: exercise collisions
	const n, workers = 5000, 8
	ids := make([][]ID, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				id, _, err := r.GetOrCreate(canon("__name__", "m", "i", fmt.Sprint(i)), TypeFloat)
				if err != nil {
					t.Error(err)
					return
				}
				ids[w] = append(ids[w], id)
			}
		}()
	}
	wg.Wait()
	if r.Len() != n {
		t.Fatalf("registry holds %d series, want %d", r.Len(), n)
	}
	seen := map[ID]bool{}
	for i := range n {
		for w := 1; w < workers; w++ {
			if ids[w][i] != ids[0][i] {
				t.Fatalf("series %d got IDs %d and %d", i, ids[0][i], ids[w][i])
			}
		}
		if seen[ids[0][i]] {
			t.Fatalf("ID %d handed out twice", ids[0][i])
		}
		seen[ids[0][i]] = true
		if got := r.Labels(ids[0][i]); !bytes.Equal(got, canon("__name__", "m", "i", fmt.Sprint(i))) {
			t.Fatalf("labels of %d = %q", ids[0][i], got)
		}
	}
	if r.MaxID() != n {
		t.Fatalf("IDs not dense: max %d for %d series", r.MaxID(), n)
	}
}

func TestRegistryLimitAndValidation(t *testing.T) {
	r := NewRegistry(RegistryOptions{MaxSeries: 2})
	for i := range 2 {
		if _, _, err := r.GetOrCreate(canon("__name__", fmt.Sprint("m", i)), TypeInt); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := r.GetOrCreate(canon("__name__", "m9"), TypeInt)
	if !errors.Is(err, ErrSeriesLimit) {
		t.Fatalf("err = %v, want ErrSeriesLimit", err)
	}
	if id, created, err := r.GetOrCreate(canon("__name__", "m0"), TypeInt); err != nil || created || id != 1 {
		t.Fatalf("existing series after limit: id %d created %v err %v", id, created, err)
	}
	if _, _, err := r.GetOrCreate(canon("host", "a"), TypeInt); !errors.Is(err, ErrInvalidLabels) {
		t.Fatalf("invalid labels accepted: %v", err)
	}
}

func TestRegistrySnapshot(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	for i := range 100 {
		id, _, err := r.GetOrCreate(canon("__name__", "m", "i", fmt.Sprint(i)), ValueType(1+i%5))
		if err != nil {
			t.Fatal(err)
		}
		if i != 50 {
			r.MarkDurable(id)
		}
	}
	var buf bytes.Buffer
	if err := r.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r2 := NewRegistry(RegistryOptions{})
	if err := r2.LoadSnapshot(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if r2.Len() != 99 {
		t.Fatalf("loaded %d series, want 99 (the non-durable one left out)", r2.Len())
	}
	id, ok := r2.Lookup(canon("__name__", "m", "i", "7"))
	if !ok || id != 8 || r2.Type(id) != ValueType(1+7%5) || !r2.Durable(id) {
		t.Fatalf("lookup after load: id %d ok %v", id, ok)
	}
	if _, ok := r2.Lookup(canon("__name__", "m", "i", "50")); ok {
		t.Fatal("non-durable series was snapshotted")
	}
	data := buf.Bytes()
	for _, off := range []int{0, 7, 20, len(data) / 2, len(data) - 1} {
		bad := bytes.Clone(data)
		bad[off] ^= 0x10
		if err := NewRegistry(RegistryOptions{}).LoadSnapshot(bad); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("flip at %d: err %v, want ErrCorruptSnapshot", off, err)
		}
	}
}

func BenchmarkRegistryLookup(b *testing.B) {
	r := NewRegistry(RegistryOptions{})
	keys := make([][]byte, 10000)
	for i := range keys {
		keys[i] = canon("__name__", "cpu_usage_user", "host", fmt.Sprint("host_", i), "region", "eu-west-1")
		if _, _, err := r.GetOrCreate(keys[i], TypeFloat); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := r.Lookup(keys[i%len(keys)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
}
