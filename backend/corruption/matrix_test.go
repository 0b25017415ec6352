// Package corruption_test is the corruption matrix of issue 17: checkpoints of every kind
// (hashmap full, lsm full, lsm incremental, canonical savepoint), each holding keyed state,
// timers and operator state, written by the real backends into real checkpoint storage on
// file://. Then each kind of stored file of the newest checkpoint (_metadata, keyed snapshot
// file, operator state file, shared SST, MANIFEST, OPTIONS, marker, WAL, extra timers file;
// among shared SSTs one for each number of checkpoints sharing it; every file with
// -corruption.all) is damaged in every way: a flipped first, middle or last byte, truncation,
// deletion, a swap with another file of its kind; and the same kind of file is damaged in
// every retained checkpoint at once. The test asserts what Flink promises:
// `checkpoints validate` (snapshot.DecodeMetadata and checkpoint.Check, as cmd/streamstate
// calls them) names the damaged file and passes every checkpoint that does not reference it;
// Restore gives exactly the state of the newest checkpoint that references no damaged file
// (compared with a model of the state at each checkpoint), or, when none is left, fails with
// an error naming every checkpoint it tried and its damaged file. Never a panic, never wrong
// state, never a silent fresh start. A damage that changes no byte (a swap of identical
// files) must restore the newest checkpoint exactly; the summary counts those cases apart.
//
// The matrix lives here, beside backend/backendtest, because it needs every backend and the
// checkpoint lifecycle at once: the backends import package checkpoint, so a test of both
// belongs at the backends' level or above, never in package checkpoint's tree (imports point
// down only). It holds no production code. Its command-line end (a killed job, `checkpoints
// validate`, `run --resume`) is cmd/streamstate's TestCorruptCheckpointResume.
package corruption_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamstate/streamstate/checkpoint"
	"github.com/streamstate/streamstate/checkpoint/blobstore"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
)

// fixture is the pristine storage of one kind and the model of every checkpoint in it.
type fixture struct {
	kind  kind
	dir   string // the storage's root on disk
	ids   []int64
	model map[int64]dump
	// refs are the storage names each checkpoint references, its _metadata included.
	refs map[int64][]string
	// files classifies every stored file by the kind of file it is.
	files map[string]string
}

func (f *fixture) latest() int64 { return f.ids[len(f.ids)-1] }

// base is the directory of the metadata's relative paths in the storage.
func (f *fixture) base() string {
	if f.kind.savepoint {
		return ""
	}
	return jobID + "/"
}

func (f *fixture) metadataName(id int64) string {
	if f.kind.savepoint {
		return snapshot.MetadataName
	}
	return fmt.Sprintf("%schk-%d/%s", f.base(), id, snapshot.MetadataName)
}

func openStorage(t testing.TB, dir string) checkpoint.Storage {
	t.Helper()
	st, err := blobstore.OpenURL(context.Background(), "file://"+filepath.ToSlash(dir))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// build writes the fixture of k: three checkpoints with random writes before each (NumRetained
// 3, so all three are retained), or one savepoint after three rounds of writes.
func build(t *testing.T, k kind, seed uint64) *fixture {
	ctx := context.Background()
	f := &fixture{kind: k, dir: t.TempDir(), model: map[int64]dump{}, refs: map[int64][]string{}, files: map[string]string{}}
	st := openStorage(t, f.dir)
	subs, err := open(ctx, k.writer, func() string { return t.TempDir() }, nil, nil)
	must(t, err)
	defer func() {
		for _, s := range subs {
			s.close()
		}
	}()
	w := &writer{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), subs: subs, model: dump{}, timers: map[string]timerRec{}}
	if k.savepoint {
		for r := range rounds {
			w.round(r)
		}
		p := checkpoint.BeginSavepoint(st)
		o := takeSnapshot(ctx, t, subs, 1, k.snap, p)
		must(t, p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{o}}))
		f.ids = []int64{0}
		f.model[0] = w.expected()
	} else {
		cps, err := checkpoint.Open(ctx, st, jobID, checkpoint.Options{NumRetained: rounds})
		must(t, err)
		for r := range rounds {
			w.round(r)
			id := int64(r + 1)
			p, err := cps.Begin(id)
			must(t, err)
			o := takeSnapshot(ctx, t, subs, id, k.snap, p)
			must(t, p.Complete(ctx, &snapshot.Metadata{Operators: []*snapshot.OperatorState{o}}))
			notify(t, subs, id)
			f.ids = append(f.ids, id)
			f.model[id] = w.expected()
		}
	}
	for _, id := range f.ids {
		md := f.metadataName(id)
		b, err := st.ReadRange(ctx, md, 0, -1)
		must(t, err)
		m, err := snapshot.DecodeMetadata(md, b)
		must(t, err)
		f.refs[id] = []string{md}
		f.files[md] = "_metadata"
		for name, kind := range classify(m) {
			f.refs[id] = append(f.refs[id], f.base()+name)
			f.files[f.base()+name] = kind
		}
		slices.Sort(f.refs[id])
	}
	return f
}

// classify returns the kind of every file m references, by its path relative to the base.
func classify(m *snapshot.Metadata) map[string]string {
	out := map[string]string{}
	for _, o := range m.Operators {
		for _, h := range o.Keyed {
			if h.Incremental == nil {
				out[h.File.Path] = "keyed-snapshot"
				continue
			}
			if h.Incremental.Extra != nil {
				out[h.Incremental.Extra.File.Path] = "timers-extra"
			}
			for _, fl := range h.Incremental.Shared {
				out[fl.Path] = "shared-" + dbFileKind(fl.Name)
			}
			for _, fl := range h.Incremental.Private {
				out[fl.Path] = "private-" + dbFileKind(fl.Name)
			}
		}
		for _, h := range o.Operator {
			out[h.File.Path] = "operator"
		}
	}
	return out
}

// dbFileKind names the kind of a Pebble file from its name: sst, MANIFEST, OPTIONS, CURRENT,
// marker, ...
func dbFileKind(name string) string {
	if ext := path.Ext(name); ext == ".sst" || ext == ".blob" || ext == ".log" {
		return ext[1:]
	}
	if i := strings.IndexAny(name, "-."); i > 0 {
		return name[:i]
	}
	return name
}

// mutation damages one stored file (and, for swap, its partner) in the storage at dir. It
// returns the storage names whose bytes changed or vanished; empty means the mutation turned
// out harmless (a swap of identical files).
type mutation struct {
	name  string
	apply func(dir, name, partner string) ([]string, error)
}

func flipAt(pos func(size int) int) func(dir, name, _ string) ([]string, error) {
	return func(dir, name, _ string) ([]string, error) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, errEmpty
		}
		b[pos(len(b))] ^= 0x01
		return []string{name}, os.WriteFile(p, b, 0o644)
	}
}

var errEmpty = errors.New("the file is empty: no byte to flip or cut")

var mutations = []mutation{
	{"flip-first", flipAt(func(int) int { return 0 })},
	{"flip-middle", flipAt(func(n int) int { return n / 2 })},
	{"flip-last", flipAt(func(n int) int { return n - 1 })},
	{"truncate", func(dir, name, _ string) ([]string, error) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.Size() == 0 {
			return nil, errEmpty
		}
		return []string{name}, os.Truncate(p, fi.Size()/2)
	}},
	{"delete", func(dir, name, _ string) ([]string, error) {
		return []string{name}, os.Remove(filepath.Join(dir, filepath.FromSlash(name)))
	}},
	{"swap", func(dir, name, partner string) ([]string, error) {
		if partner == "" {
			return nil, errNoPartner
		}
		a, b := filepath.Join(dir, filepath.FromSlash(name)), filepath.Join(dir, filepath.FromSlash(partner))
		ab, err := os.ReadFile(a)
		if err != nil {
			return nil, err
		}
		bb, err := os.ReadFile(b)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(a, bb, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(b, ab, 0o644); err != nil {
			return nil, err
		}
		if string(ab) == string(bb) {
			return nil, nil // identical files: the swap changes nothing
		}
		return []string{name, partner}, nil
	}},
}

var errNoPartner = errors.New("no other stored file of the same kind to swap with")

// partner returns another stored file of the same kind as name, preferring the same
// checkpoint (the other subtask's file), else the newest earlier checkpoint; "" if none.
func (f *fixture) partner(name string) string {
	kind := f.files[name]
	for i := len(f.ids) - 1; i >= 0; i-- {
		for _, n := range f.refs[f.ids[i]] {
			if n != name && f.files[n] == kind {
				return n
			}
		}
	}
	return ""
}

func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	must(t, err)
}

// caseSpec is one case of the matrix: apply damages a copy of the fixture's storage in dir.
type caseSpec struct {
	label        string
	apply        func(dir string) ([]string, error)
	metadataGone bool
}

var all = flag.Bool("corruption.all", false, "damage every stored file of the newest checkpoint, not one file of each kind")

// targets returns the files of the newest checkpoint to damage: with -corruption.all every
// one, else one of each kind of file (the first by name, so subtask 0's) and, among shared
// files, one for each number of checkpoints that reference it (so that damage to a file only
// the newest checkpoint has and to one every checkpoint shares are both covered).
func (f *fixture) targets() []string {
	latest := f.refs[f.latest()]
	if *all {
		return latest
	}
	users := map[string]int{}
	for _, id := range f.ids {
		for _, n := range f.refs[id] {
			users[n]++
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range latest {
		class := fmt.Sprintf("%s/%d", f.files[n], users[n])
		if !seen[class] {
			seen[class] = true
			out = append(out, n)
		}
	}
	return out
}

// everyCheckpoint returns the cases that damage every retained checkpoint (a flipped last
// byte in the same kind of file of each, subtask 0's): nothing is left to restore, and the
// restore must fail naming each checkpoint, never start fresh.
func (f *fixture) everyCheckpoint() []caseSpec {
	if f.kind.savepoint {
		return nil
	}
	flip := mutations[slices.IndexFunc(mutations, func(m mutation) bool { return m.name == "flip-last" })]
	var out []caseSpec
	for _, kind := range []string{"_metadata", "keyed-snapshot", "operator", "timers-extra", "private-MANIFEST"} {
		var names []string
		for _, id := range f.ids {
			if i := slices.IndexFunc(f.refs[id], func(n string) bool { return f.files[n] == kind }); i >= 0 {
				names = append(names, f.refs[id][i])
			}
		}
		if len(names) != len(f.ids) {
			continue
		}
		out = append(out, caseSpec{label: "every-checkpoint/" + kind + "/flip-last", apply: func(dir string) ([]string, error) {
			var damaged []string
			for _, n := range names {
				d, err := flip.apply(dir, n, "")
				if err != nil {
					return nil, err
				}
				damaged = append(damaged, d...)
			}
			return damaged, nil
		}})
	}
	return out
}

// outcome is what one case of the matrix showed, for the summary.
type outcome string

const (
	outHarmless = outcome("harmless mutation: the newest checkpoint restored exactly")
	outFallback = outcome("fell back to an older checkpoint with exactly its state")
	outNone     = outcome("no good checkpoint left: restore failed naming every checkpoint")
	outGone     = outcome("the _metadata deleted: the checkpoint no longer exists, the previous one restored")
	outSPFailed = outcome("savepoint damaged: restore failed naming the file")
	outSkipped  = outcome("not applicable (empty file, or no partner to swap with)")
)

// TestCorruptionMatrix runs the matrix; see the package documentation. Its seed is printed and
// can be fixed with STREAMSTATE_CORRUPTION_SEED.
func TestCorruptionMatrix(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STREAMSTATE_CORRUPTION_SEED"); s != "" {
		if _, err := fmt.Sscan(s, &seed); err != nil {
			t.Fatalf("STREAMSTATE_CORRUPTION_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (rerun with STREAMSTATE_CORRUPTION_SEED=%d)", seed, seed)
	start := time.Now()
	tally := &tally{counts: map[outcome]int{}, fileKinds: map[string][]string{}}
	// The kinds run in parallel; the group returns when all are done.
	t.Run("kinds", func(t *testing.T) {
		for _, k := range kinds() {
			t.Run(k.name, func(t *testing.T) {
				t.Parallel()
				matrixKind(t, k, seed, tally)
			})
		}
	})
	var lines []string
	for _, k := range kinds() {
		lines = append(lines, fmt.Sprintf("%s: %s", k.name, strings.Join(tally.fileKinds[k.name], ", ")))
	}
	t.Logf("file kinds damaged per checkpoint kind:\n  %s", strings.Join(lines, "\n  "))
	for _, o := range slices.Sorted(maps.Keys(tally.counts)) {
		t.Logf("%4d cases: %s", tally.counts[o], o)
	}
	summary := fmt.Sprintf("corruption matrix: %d cases run (%d checkpoint kinds × stored files × %d mutations, %d not applicable) in %v, seed %d",
		tally.cases, len(kinds()), len(mutations), tally.counts[outSkipped], time.Since(start).Round(time.Millisecond), seed)
	t.Log(summary)
	fmt.Println(summary)
}

// tally counts the matrix's cases by outcome, for the summary. Safe for concurrent use.
type tally struct {
	mu        sync.Mutex
	cases     int
	counts    map[outcome]int
	fileKinds map[string][]string // the kinds of file damaged, by checkpoint kind
}

func (t *tally) add(o outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[o]++
	if o != outSkipped {
		t.cases++
	}
}

func (t *tally) kinds(kind string, fileKinds []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fileKinds[kind] = fileKinds
}

// matrixKind runs the matrix for one kind of checkpoint: the pristine control case, every
// mutation of the target files, and the damage of every checkpoint.
func matrixKind(t *testing.T, k kind, seed uint64, tl *tally) {
	f := build(t, k, seed)
	t.Run("pristine", func(t *testing.T) {
		dir := t.TempDir()
		copyTree(t, f.dir, dir)
		runCase(t, f, dir, nil, false)
	})
	fileKinds := map[string]bool{}
	for _, name := range f.refs[f.latest()] {
		fileKinds[f.files[name]] = true
	}
	tl.kinds(k.name, slices.Sorted(maps.Keys(fileKinds)))
	var specs []caseSpec
	for _, name := range f.targets() {
		for _, mut := range mutations {
			specs = append(specs, caseSpec{
				label: fmt.Sprintf("%s/%s/%s", f.files[name], strings.ReplaceAll(name, "/", "|"), mut.name),
				apply: func(dir string) ([]string, error) {
					partner := f.partner(name)
					if mut.name == "swap" && partner != "" {
						t.Logf("swapping %s with %s", name, partner)
					}
					return mut.apply(dir, name, partner)
				},
				metadataGone: mut.name == "delete" && f.files[name] == "_metadata" && !f.kind.savepoint,
			})
		}
	}
	specs = append(specs, f.everyCheckpoint()...)
	for _, c := range specs {
		t.Run(c.label, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, f.dir, dir)
			damaged, err := c.apply(dir)
			switch {
			case errors.Is(err, errEmpty) || errors.Is(err, errNoPartner):
				t.Logf("not applicable: %v", err)
				tl.add(outSkipped)
			case err != nil:
				t.Fatal(err)
			default:
				tl.add(runCase(t, f, dir, damaged, c.metadataGone))
			}
		})
	}
}
