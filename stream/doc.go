// Package stream is streamstate's small stream runtime. Today it holds the timer service of
// keyed operators (InternalTimerService): event-time timers fired by watermarks and
// processing-time timers fired from an injectable Clock, stored in the keyed backend's timer
// queues so they are checkpointed and rescaled with the keys.
package stream
