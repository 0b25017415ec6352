package backend

import (
	"fmt"
	"strings"

	"github.com/streamstate/streamstate/checkpoint/snapshot"
	"github.com/streamstate/streamstate/serde"
)

// Migration says how a descriptor reads state recorded with another value serializer than
// its own: From reads the recorded values (its ID, or one of its aliases, is the recorded ID,
// and its schema reads the recorded schema), Func turns each into a value of the spec's
// serializer. A registration that needs it rewrites every recorded value of the state before
// the state is returned (see Rewrite); one that does not (the recorded values are the spec's
// already) ignores it. Switching a state's codec (JSON to CBOR) is a Migration whose Func
// returns its argument.
type Migration struct {
	From serde.Erased
	Func func(old any) (any, error)
}

// Rewrite is how a registration turns each recorded value (list element, map value) of a
// state into the value the registered spec stores, when the two differ: a Migration, or TTL
// stamps added (TTL switched on: stamped with the time of the registration) or dropped (TTL
// switched off). The backend applies it to every recorded value of the state before it
// returns the state, and logs its progress for large state.
type Rewrite struct {
	// State names the state, as in errors.
	State string
	// Steps say what the rewrite does, for logs.
	Steps []string

	stripStamp, addStamp bool
	stamp                int64
	migrate              *Migration
	to                   serde.Erased
}

// String says what r does.
func (r *Rewrite) String() string { return r.State + ": " + strings.Join(r.Steps, ", ") }

// Value appends the rewritten form of the recorded value old to dst. Its error names the
// state and the step that failed; it wraps snapshot.ErrCorrupt when old itself is bad (no
// stamp where the state recorded stamps, bytes the recorded serializer cannot decode), so
// the backend can name the file it came from, and not when the migration function or the
// new serializer fails.
func (r *Rewrite) Value(dst, old []byte) ([]byte, error) {
	at, body := r.stamp, old
	if r.stripStamp {
		var err error
		if at, body, err = StampOf(old); err != nil {
			return dst, fmt.Errorf("%w: rewrite %s: %w", snapshot.ErrCorrupt, r.State, err)
		}
	}
	if r.addStamp {
		dst = AppendStamp(dst, at)
	}
	if r.migrate == nil {
		return append(dst, body...), nil
	}
	v, err := r.migrate.From.DecodeAny(body)
	if err != nil {
		return dst, fmt.Errorf("%w: rewrite %s: decode a recorded value with %q: %w", snapshot.ErrCorrupt, r.State, r.migrate.From.ID(), err)
	}
	if v, err = r.migrate.Func(v); err != nil {
		return dst, fmt.Errorf("rewrite %s: migration function: %w", r.State, err)
	}
	if dst, err = r.to.AppendAny(dst, v); err != nil {
		return dst, fmt.Errorf("rewrite %s: encode a migrated value with %q: %w", r.State, r.to.ID(), err)
	}
	return dst, nil
}

// CheckRegistration is the check every keyed backend makes when a descriptor (spec) is
// registered over state recorded earlier (restored, or registered before) as recorded. It
// returns the Evolution to log (Evolution.Log: the fields added and dropped) and, when the
// recorded values are not what the spec stores, the Rewrite to apply to each of them before
// the state is used; nil when they are read as they are. The rules:
//
//   - the same kind, else ErrStateConflict;
//   - the same user key serializer (or an alias of it): user keys are never rewritten;
//   - values: read as they are when the spec's serializer has the recorded ID or declares it
//     an alias (serde.Compatible) and its schema reads the recorded one (CheckSchema: fields
//     added or removed are compatible, a changed field type is not); else migrated when the
//     spec carries a Migration whose From reads them by the same rules (also when the
//     snapshot predates recorded schemas and From reads the recorded ID: it cannot show
//     that the values read as they are, and the migration says they are From's); else
//     ErrIncompatibleSerializer naming the state, the serializers or fields, and the fix;
//   - TTL: a state recorded without TTL and registered with one is stamped with the time of
//     the registration (clock.Now in the spec's time; NoStamp while event time is unknown),
//     one recorded with TTL and registered without loses its stamps, and switching between
//     processing and event time is refused (the stamps are of another clock).
//
// A state restored from several snapshots may have been recorded under more than one ID,
// schema or TTL (see MergeRestored): the spec must read each, and all must need the same
// rewrite, since a backend does not know which snapshot a value came from; otherwise the
// registration is refused and says how to consolidate the state first. When it passes, the
// backend records the state under the spec's serializer IDs, schema and TTL from then on.
func CheckRegistration(operatorID string, spec Spec, schemas *Schemas, clock *Clock, recorded ...snapshot.StateMeta) (Evolution, *Rewrite, error) {
	if clock == nil {
		clock = &Clock{}
	}
	return checkRegistration(fmt.Sprintf("state %q of operator %s", spec.Name, operatorID), operatorID, spec, schemas, clock, recorded...)
}

// CheckOperatorRegistration is CheckRegistration for operator state (list and broadcast
// state): the same rules for serializers, schemas, user keys and migrations, applied to the
// operator state recorded as recorded, each given as the keyed state of the same serializers
// would be (KindList for list states, KindMap for broadcast states; the backend checks the
// mode itself). Operator state has no TTL: spec's is ignored, and the Rewrite, when not nil,
// is a migration (Migration) to apply to every recorded element or entry value. Errors name
// "operator state" and the state.
func CheckOperatorRegistration(operatorID string, spec Spec, schemas *Schemas, recorded ...snapshot.StateMeta) (Evolution, *Rewrite, error) {
	spec.TTL = nil
	return checkRegistration(fmt.Sprintf("operator state %q of operator %s", spec.Name, operatorID), operatorID, spec, schemas, &Clock{}, recorded...)
}

func checkRegistration(state, operatorID string, spec Spec, schemas *Schemas, clock *Clock, recorded ...snapshot.StateMeta) (Evolution, *Rewrite, error) {
	ev := Evolution{State: state}
	var plan *Rewrite
	for i, have := range recorded {
		if have.Kind != spec.Kind {
			return Evolution{}, nil, kindConflict(operatorID, have, spec.Kind)
		}
		if spec.Kind == KindMap {
			if !serde.Compatible(spec.UserKey, have.UserKey) {
				return Evolution{}, nil, incompatible(state, "user key ", have.UserKey, spec.UserKey)
			}
			if err := checkUserKeySchema(state, have.UserKeySchema, schemas.Of(spec.UserKey), spec.UserKey.ID()); err != nil {
				return Evolution{}, nil, err
			}
		} else if have.UserKey != "" {
			return Evolution{}, nil, fmt.Errorf("%w: %s was written with user key serializer %q but is registered without one",
				ErrIncompatibleSerializer, state, have.UserKey)
		}
		r, e, err := planValues(state, spec, schemas, clock, have)
		if err != nil {
			return Evolution{}, nil, err
		}
		ev.merge(e)
		if i > 0 && !plan.same(r) {
			return Evolution{}, nil, fmt.Errorf("%w: %s was restored from snapshots that recorded it differently (%s; %s), "+
				"which need different rewrites to be registered as %q: restore it at the parallelism it was written with, "+
				"register it in every subtask and take a savepoint, then restore that at the new parallelism",
				ErrIncompatibleSerializer, state, describe(recorded[0]), describe(have), spec.Value.ID())
		}
		plan = r
	}
	return ev, plan, nil
}

func describe(m snapshot.StateMeta) string {
	s := "serializer " + m.Value
	if m.TTL != "" {
		s += " with " + m.TTL + "-time TTL"
	}
	return s
}

func (r *Rewrite) same(o *Rewrite) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.stripStamp == o.stripStamp && r.addStamp == o.addStamp && (r.migrate == nil) == (o.migrate == nil)
}

// planValues decides how the values recorded as have are read by spec.
func planValues(state string, spec Spec, schemas *Schemas, clock *Clock, have snapshot.StateMeta) (*Rewrite, Evolution, error) {
	r := &Rewrite{State: state, to: spec.Value}
	ev, err := readsAsIs(state, spec.Value, schemas, have)
	m := spec.Migration
	usable := m != nil && m.From != nil && m.Func != nil
	// A snapshot written before schemas were recorded cannot show that its values read as
	// they are when the serializer ID is unchanged; a descriptor carrying a migration from a
	// serializer that reads them says they are of the old type, so they are migrated (the
	// registration then records the schema: it happens once).
	preSchema := err == nil && usable && have.Schema == "" && schemas.Of(spec.Value) != ""
	if err != nil || preSchema {
		if !usable {
			return nil, Evolution{}, err
		}
		if _, ferr := readsAsIs(state, m.From, schemas, have); ferr != nil {
			if err == nil {
				preSchema = false // the migration is not for these values: read them as they are
			} else {
				return nil, Evolution{}, fmt.Errorf("%w (the descriptor's migration reads %q, which cannot read it either: %v)", err, m.From.ID(), ferr)
			}
		}
	}
	if err != nil || preSchema {
		// Fields added or dropped by the migration's own type are its business: Func sees
		// the recorded values as From decodes them.
		ev = Evolution{State: state}
		r.migrate = m
		r.Steps = append(r.Steps, fmt.Sprintf("migrate values from %q to %q", have.Value, spec.Value.ID()))
	}
	want := spec.TTLTime()
	switch {
	case have.TTL == want:
		r.stripStamp, r.addStamp = want != "", want != ""
	case have.TTL == "":
		r.addStamp = true
		r.stamp = clock.Now(spec.TTL.Time)
		r.Steps = append(r.Steps, fmt.Sprintf("switch %s-time TTL on (every value is stamped with the time of this restore)", want))
	case want == "":
		r.stripStamp = true
		r.Steps = append(r.Steps, "switch TTL off (the stamps are dropped, every value is kept)")
	default:
		return nil, Evolution{}, fmt.Errorf("%w: %s was written with %s-time TTL and is registered with %s-time TTL; "+
			"its recorded stamps are times of the other clock: keep TTL in %s time, or switch TTL off for one run and on again",
			ErrIncompatibleSerializer, state, have.TTL, want, have.TTL)
	}
	if r.migrate == nil && have.TTL == want {
		return nil, ev, nil
	}
	return r, ev, nil
}

// readsAsIs reports whether ser reads the values recorded as have as they are: the same ID or
// an alias (serde.Compatible), and a schema that reads the recorded one (CheckSchema).
func readsAsIs(state string, ser serde.Erased, schemas *Schemas, have snapshot.StateMeta) (Evolution, error) {
	if !serde.Compatible(ser, have.Value) {
		return Evolution{}, incompatible(state, "", have.Value, ser)
	}
	ev, err := CheckSchema(state, have.Schema, schemas.Of(ser), ser.ID())
	ev.value, ev.stamped = ser, have.TTL != ""
	return ev, err
}
