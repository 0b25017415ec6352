package checkpointtest

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/streamstate/streamstate/checkpoint"
)

func suiteIfNotExistConcurrent(t *testing.T, st checkpoint.Storage) {
	const rounds, writers = 10, 6
	for r := range rounds {
		name := fmt.Sprintf("race/%d/_metadata", r)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				w, err := st.Create(bg, name, true)
				if err != nil {
					errs[i] = err
					return
				}
				if _, err := w.Write(pattern(100+i, byte(i))); err != nil {
					w.Abort()
					errs[i] = err
					return
				}
				runtime.Gosched()
				_, errs[i] = w.Commit()
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("%s: writers %d and %d both committed with create-if-not-exists", name, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, checkpoint.ErrExists):
				t.Fatalf("%s: writer %d: %v, want success or checkpoint.ErrExists", name, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("%s: no writer committed", name)
		}
		expectContent(t, st, name, pattern(100+winner, byte(winner)))
	}
}

func suiteConcurrentWriters(t *testing.T, st checkpoint.Storage) {
	const writers, objects, chunk = 6, 6, 3000
	content := func(w, o int) []byte { return pattern(chunk*3+w*objects+o, byte(w*objects+o)) }
	var wg sync.WaitGroup
	errs := make(chan error, writers*objects)
	var want []string
	for w := range writers {
		for o := range objects {
			want = append(want, fmt.Sprintf("job/chk-%d/op-%d", o, w))
		}
		wg.Go(func() {
			for o := range objects {
				name := fmt.Sprintf("job/chk-%d/op-%d", o, w)
				data := content(w, o)
				wr, err := st.Create(bg, name, false)
				if err != nil {
					errs <- err
					return
				}
				for len(data) > 0 {
					n := min(chunk, len(data))
					if _, err := wr.Write(data[:n]); err != nil {
						wr.Abort()
						errs <- err
						return
					}
					data = data[n:]
					runtime.Gosched()
				}
				if _, err := wr.Commit(); err != nil {
					errs <- fmt.Errorf("commit %s: %w", name, err)
					return
				}
				// Read back an object committed by this writer while others write.
				got, err := st.ReadRange(bg, name, 1, chunk)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, content(w, o)[1:1+chunk]) {
					errs <- fmt.Errorf("%s reads back wrong bytes", name)
					return
				}
				if _, err := st.List(bg, "job/"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	expectList(t, st, "", want...)
	for w := range writers {
		for o := range objects {
			expectContent(t, st, fmt.Sprintf("job/chk-%d/op-%d", o, w), content(w, o))
		}
	}
}

// suiteCreateWhileDeleting: writers create, commit and delete objects in one "directory"
// concurrently, so that one's delete empties it while another creates a file in it. Every
// commit succeeds and reads back (a file:// storage that removes empty directories must not
// fail a writer whose directory a delete removed under it).
func suiteCreateWhileDeleting(t *testing.T, st checkpoint.Storage) {
	const writers, rounds = 6, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				name := fmt.Sprintf("job/chk-1/w%d-%d", w, r)
				data := pattern(64+r, byte(w))
				if _, err := write(st, name, false, data); err != nil {
					errs <- err
					return
				}
				got, err := st.ReadRange(bg, name, 0, -1)
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("%s reads back %d bytes, %v", name, len(got), err)
					return
				}
				if err := st.Delete(bg, name); err != nil {
					errs <- fmt.Errorf("Delete(%q): %w", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	expectList(t, st, "")
}
