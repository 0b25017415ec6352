package state

// TimeDomain says which clock a timer belongs to.
type TimeDomain uint8

// The time domains.
const (
	EventTime TimeDomain = iota
	ProcessingTime
)

func (d TimeDomain) String() string {
	if d == EventTime {
		return "event time"
	}
	return "processing time"
}

// TimerService is what a keyed function sees: it registers and deletes timers of the current
// key in the given namespace (nil for the void namespace). Registering the same (timestamp,
// key, namespace) twice keeps one timer.
type TimerService interface {
	// CurrentProcessingTime is the injectable clock's time in milliseconds.
	CurrentProcessingTime() int64
	// CurrentWatermark is the event-time watermark.
	CurrentWatermark() int64
	RegisterEventTimeTimer(ns []byte, ts int64) error
	RegisterProcessingTimeTimer(ns []byte, ts int64) error
	DeleteEventTimeTimer(ns []byte, ts int64) error
	DeleteProcessingTimeTimer(ns []byte, ts int64) error
}
