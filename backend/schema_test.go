package backend_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

type acct struct {
	ID      int64  `json:"id"`
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
}

type acctEvolved struct {
	ID       int64  `json:"id"`
	Balance  int64  `json:"balance"`
	Currency string `json:"currency"`
}

type acctChanged struct {
	ID      int64   `json:"id"`
	Owner   string  `json:"owner"`
	Balance float64 `json:"balance"`
}

func spec[T any](name string) backend.Spec {
	return backend.Spec{Name: name, Kind: backend.KindValue, Value: serde.Erase[T](serde.JSON[T]{Name: "acct"})}
}

func recorded[T any](name string) snapshot.StateMeta {
	s := serde.JSON[T]{Name: "acct"}
	return snapshot.StateMeta{Name: name, Kind: backend.KindValue, Value: s.ID(), Schema: s.Schema().String()}
}

// check is CheckRegistration of operator "op" with spec's schema.
func check(spec backend.Spec, recorded ...snapshot.StateMeta) (backend.Evolution, error) {
	var c backend.Schemas
	ev, rw, err := backend.CheckRegistration("op", spec, &c, nil, recorded...)
	if err == nil && rw != nil {
		return ev, fmt.Errorf("unexpected rewrite: %s", rw)
	}
	return ev, err
}

// TestCheckRegistrationSchema: the one registration rule decides from the recorded schema:
// the same or evolved (added, removed fields) is compatible and reported, a changed type is
// not, and an absent recorded schema or a serializer without one falls back to the IDs.
func TestCheckRegistrationSchema(t *testing.T) {
	ev, err := check(spec[acct]("a"), recorded[acct]("a"))
	if err != nil || ev.Added != nil || ev.Removed != nil {
		t.Fatalf("same schema: %+v, %v", ev, err)
	}
	ev, err = check(spec[acctEvolved]("a"), recorded[acct]("a"))
	if err != nil || !slices.Equal(ev.Added, []string{"currency"}) || !slices.Equal(ev.Removed, []string{"owner"}) ||
		!strings.Contains(ev.State, `"a"`) {
		t.Fatalf("evolved schema: %+v, %v", ev, err)
	}
	_, err = check(spec[acctChanged]("a"), recorded[acct]("a"))
	if !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("changed type: %v", err)
	}
	for _, want := range []string{`state "a" of operator op`, `field "balance"`, "written as int64", "registered as float64",
		"keep the old type, or register the state under a new name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Several recorded metas (a rescale merged subtasks that registered, and did not): all
	// must be readable, and the evolution is their union.
	ev, err = check(spec[acctEvolved]("a"), recorded[acct]("a"), recorded[acctEvolved]("a"))
	if err != nil || !slices.Equal(ev.Removed, []string{"owner"}) {
		t.Fatalf("merged: %+v, %v", ev, err)
	}
	if _, err := check(spec[acctChanged]("a"), recorded[acctChanged]("a"), recorded[acct]("a")); !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("merged with a changed type: %v", err)
	}
	old := recorded[acct]("a")
	old.Schema = ""
	if ev, err := check(spec[acctChanged]("a"), old); err != nil || ev.Removed != nil {
		t.Fatalf("no recorded schema: %+v, %v", ev, err)
	}
	plain := backend.Spec{Name: "a", Kind: backend.KindValue, Value: serde.Erase[acctChanged](noSchema{serde.JSON[acctChanged]{Name: "acct"}})}
	if _, err := check(plain, recorded[acct]("a")); err != nil {
		t.Fatalf("serializer without a schema: %v", err)
	}
	bad := recorded[acct]("a")
	bad.Schema = "struct{"
	if _, err := check(spec[acct]("a"), bad); !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("unreadable recorded schema: %v", err)
	}
}

// noSchema has the ID of serde.JSON[acctChanged]{Name: "acct"} and no schema.
type noSchema struct{ serde.JSON[acctChanged] }

func (noSchema) Schema() *serde.Schema { return nil }

// TestEvolutionLog: dropped fields are a warning naming them, added ones an info line, and
// nothing is logged when nothing changed or there is no logger.
func TestEvolutionLog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	backend.Evolution{State: "s"}.Log(l, "op")
	backend.Evolution{State: "s", Removed: []string{"x"}}.Log(nil, "op")
	if buf.Len() != 0 {
		t.Fatalf("logged %q", buf.String())
	}
	backend.Evolution{State: `state "s"`, Added: []string{"new"}, Removed: []string{"owner", "addr.zip"}}.Log(l, "op")
	out := buf.String()
	for _, want := range []string{"level=WARN", "droppedFields=\"[owner addr.zip]\"", "level=INFO", "addedFields=[new]", "operator=op"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q does not hold %q", out, want)
		}
	}
}

// TestSchemasMemo: Schemas gives each serializer its own schema, by type and ID: JSON and CBOR
// of one type, and one codec of two types, are told apart; a serializer without a schema has
// "".
func TestSchemasMemo(t *testing.T) {
	var c backend.Schemas
	j := c.Of(serde.Erase[acct](serde.JSON[acct]{Name: "acct"}))
	if want := (serde.JSON[acct]{}).Schema().String(); j != want || c.Of(serde.Erase[acct](serde.JSON[acct]{Name: "acct"})) != want {
		t.Fatalf("JSON schema %q, want %q", j, want)
	}
	if got := c.Of(serde.Erase[acctChanged](serde.JSON[acctChanged]{Name: "acct"})); got == j || got != (serde.JSON[acctChanged]{}).Schema().String() {
		t.Errorf("another type under the same ID: %q", got)
	}
	if got := c.Of(serde.Erase[[]byte](serde.CBOR[[]byte]{})); got != "bytes" {
		t.Errorf("CBOR []byte: %q", got)
	}
	if got := c.Of(serde.Erase[[]byte](serde.JSON[[]byte]{})); got != "bytes" {
		t.Errorf("JSON []byte: %q", got)
	}
	if got := c.Of(serde.Erase[[2]byte](serde.CBOR[[2]byte]{})); got != "bytes" {
		t.Errorf("CBOR [2]byte: %q", got)
	}
	if got := c.Of(serde.Erase[[2]byte](serde.JSON[[2]byte]{})); got != "[uint8]" {
		t.Errorf("JSON [2]byte after CBOR's: %q", got)
	}
	if got := c.Of(serde.Erase[int64](serde.Int64{})); got != "" {
		t.Errorf("Int64: %q", got)
	}
}
