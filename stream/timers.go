package stream

import (
	"fmt"
	"math"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/state"
)

// Clock gives processing time in milliseconds. Tests inject their own; the runtime's default
// reads the wall clock.
type Clock interface{ Now() int64 }

// ManualClock is a Clock that moves only when told to: tests never sleep.
type ManualClock struct{ T int64 }

// Now implements Clock.
func (c *ManualClock) Now() int64 { return c.T }

// FiredTimer is what a Triggerable receives: the timer, its decoded key and its domain. The
// key is also the backend's current key during the callback.
type FiredTimer[K any] struct {
	Timestamp int64
	Key       K
	Namespace []byte
	Domain    state.TimeDomain
}

// Triggerable is called for every timer that fires. It may read and write the key's state
// and register or delete timers.
type Triggerable[K any] interface {
	OnTimer(t FiredTimer[K]) error
}

// TriggerFunc adapts a function to Triggerable.
type TriggerFunc[K any] func(FiredTimer[K]) error

// OnTimer implements Triggerable.
func (f TriggerFunc[K]) OnTimer(t FiredTimer[K]) error { return f(t) }

// MinWatermark is the watermark before any was received.
const MinWatermark = math.MinInt64

// InternalTimerService is the timer service of one keyed operator, as Flink's
// InternalTimerServiceImpl: event-time and processing-time timers stored in the keyed
// backend's timer queues (so they are in every snapshot and rescale with their key groups),
// fired in timestamp order with their key set as current. Event time advances with
// AdvanceWatermark; processing time with AdvanceProcessingTime, driven by the runtime from
// its Clock. Used from the task goroutine only.
type InternalTimerService[K any] struct {
	kb        *state.KeyedBackend[K]
	event     backend.TimerQueue
	proc      backend.TimerQueue
	clock     Clock
	target    Triggerable[K]
	watermark int64
}

// NewInternalTimerService creates (or, after a restore, reopens) the timer queues
// "<name>/event" and "<name>/processing" in kb's backend.
func NewInternalTimerService[K any](name string, kb *state.KeyedBackend[K], clock Clock, target Triggerable[K]) (*InternalTimerService[K], error) {
	f := kb.Backend()
	event, err := f.CreateTimerQueue(name + "/event")
	if err != nil {
		return nil, err
	}
	proc, err := f.CreateTimerQueue(name + "/processing")
	if err != nil {
		return nil, err
	}
	return &InternalTimerService[K]{kb: kb, event: event, proc: proc, clock: clock, target: target, watermark: MinWatermark}, nil
}

// CurrentProcessingTime implements state.TimerService.
func (s *InternalTimerService[K]) CurrentProcessingTime() int64 { return s.clock.Now() }

// CurrentWatermark implements state.TimerService.
func (s *InternalTimerService[K]) CurrentWatermark() int64 { return s.watermark }

func (s *InternalTimerService[K]) timer(ns []byte, ts int64) (backend.Timer, int, error) {
	key, kg, ok := s.kb.CurrentKeyBytes()
	if !ok {
		return backend.Timer{}, 0, fmt.Errorf("stream: timer at %d: %w", ts, state.ErrNoCurrentKey)
	}
	return backend.Timer{Timestamp: ts, Key: key, Namespace: ns}, kg, nil
}

// RegisterEventTimeTimer implements state.TimerService.
func (s *InternalTimerService[K]) RegisterEventTimeTimer(ns []byte, ts int64) error {
	return s.register(s.event, ns, ts)
}

// RegisterProcessingTimeTimer implements state.TimerService.
func (s *InternalTimerService[K]) RegisterProcessingTimeTimer(ns []byte, ts int64) error {
	return s.register(s.proc, ns, ts)
}

// DeleteEventTimeTimer implements state.TimerService.
func (s *InternalTimerService[K]) DeleteEventTimeTimer(ns []byte, ts int64) error {
	return s.remove(s.event, ns, ts)
}

// DeleteProcessingTimeTimer implements state.TimerService.
func (s *InternalTimerService[K]) DeleteProcessingTimeTimer(ns []byte, ts int64) error {
	return s.remove(s.proc, ns, ts)
}

func (s *InternalTimerService[K]) register(q backend.TimerQueue, ns []byte, ts int64) error {
	t, kg, err := s.timer(ns, ts)
	if err != nil {
		return err
	}
	_, err = q.Add(kg, t)
	return err
}

func (s *InternalTimerService[K]) remove(q backend.TimerQueue, ns []byte, ts int64) error {
	t, kg, err := s.timer(ns, ts)
	if err != nil {
		return err
	}
	_, err = q.Remove(kg, t)
	return err
}

// AdvanceWatermark moves event time to wm and fires every event-time timer at or before it,
// in order, including timers the callbacks register at or before wm.
func (s *InternalTimerService[K]) AdvanceWatermark(wm int64) error {
	if wm > s.watermark {
		s.watermark = wm
	}
	return s.fire(s.event, state.EventTime, s.watermark)
}

// AdvanceProcessingTime fires every processing-time timer at or before the clock's time.
func (s *InternalTimerService[K]) AdvanceProcessingTime() error {
	return s.fire(s.proc, state.ProcessingTime, s.clock.Now())
}

// NextProcessingTime returns the earliest processing-time timer, so the runtime can schedule
// a wake-up; ok is false when there is none.
func (s *InternalTimerService[K]) NextProcessingTime() (ts int64, ok bool, err error) {
	t, ok, err := s.proc.Peek()
	return t.Timestamp, ok, err
}

// NumTimers returns the number of registered event-time and processing-time timers.
func (s *InternalTimerService[K]) NumTimers() (event, processing int) {
	return s.event.Len(), s.proc.Len()
}

func (s *InternalTimerService[K]) fire(q backend.TimerQueue, d state.TimeDomain, upTo int64) error {
	for {
		t, ok, err := q.Peek()
		if err != nil || !ok || t.Timestamp > upTo {
			return err
		}
		t, _, _, err = q.Poll()
		if err != nil {
			return err
		}
		if err := s.kb.SetCurrentKeyBytes(t.Key); err != nil {
			return fmt.Errorf("stream: fire %s: %w", t, err)
		}
		key, _ := s.kb.CurrentKey()
		if err := s.target.OnTimer(FiredTimer[K]{Timestamp: t.Timestamp, Key: key, Namespace: t.Namespace, Domain: d}); err != nil {
			return err
		}
	}
}
