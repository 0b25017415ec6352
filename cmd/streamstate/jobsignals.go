package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/streamstate/streamstate/backend"
	"github.com/streamstate/streamstate/stream"
)

// signalName is the conventional name of the signals streamstate handles.
func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// forcedExitCode is the exit status after a second SIGINT or SIGTERM: 128 + the signal, as a
// shell reports a process killed by it.
func forcedExitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

// jobControl turns a `streamstate run` process's signals into job control, from the first
// instant of the run to its end:
//
//   - SIGUSR1 / SIGUSR2 ask for a savepoint / a stop-with-savepoint. Before the job runs they
//     are queued and acted on as soon as it does. Each claims the requests `streamstate
//     savepoint` left in the runtime directory and answers them with the savepoint's path.
//   - The first SIGINT or SIGTERM cancels: while the job starts, the start is abandoned
//     (cancelStart); once it runs, the job is canceled (stream.Job.Cancel: no savepoint).
//   - A second SIGINT or SIGTERM exits at once (exit), non-zero.
//
// All of it runs on one goroutine (loop), so queued requests keep their order.
type jobControl struct {
	sigs        <-chan os.Signal
	log         io.Writer
	exit        func(code int) // nil: no forced exit (tests calling run in-process)
	cancelStart context.CancelFunc
	rt          *runtimeDir // nil: no runtime files
	pid         int
	jobID       string

	attachCh chan attachment
	endCh    chan chan struct{}
	quit     chan struct{}
	loopDone chan struct{}
	inFlight sync.WaitGroup // savepoints being taken; Add only on the loop goroutine before endCh

	mu       sync.Mutex
	canceled os.Signal // the signal that canceled the job, or nil
}

// attachment is the running job and how to take a savepoint of it.
type attachment struct {
	job       *stream.Job
	savepoint func(stop bool, format backend.SavepointFormatType) savepointResult
}

// newJobControl starts handling sigs (nil: no signals, everything else still works).
func newJobControl(sigs <-chan os.Signal, log io.Writer, exit func(int), cancelStart context.CancelFunc, rt *runtimeDir, jobID string) *jobControl {
	c := &jobControl{sigs: sigs, log: log, exit: exit, cancelStart: cancelStart, rt: rt, pid: os.Getpid(), jobID: jobID,
		attachCh: make(chan attachment), endCh: make(chan chan struct{}), quit: make(chan struct{}), loopDone: make(chan struct{})}
	go c.loop()
	return c
}

// attach tells that the job runs: queued savepoint requests are acted on now.
func (c *jobControl) attach(job *stream.Job, savepoint func(stop bool, format backend.SavepointFormatType) savepointResult) {
	select {
	case c.attachCh <- attachment{job, savepoint}:
	case <-c.loopDone:
	}
}

// jobEnded tells that the job has ended: later requests are answered with an error. It
// returns once every savepoint in flight has returned (and printed its line).
func (c *jobControl) jobEnded() {
	ack := make(chan struct{})
	select {
	case c.endCh <- ack:
		<-ack
	case <-c.loopDone:
	}
	c.inFlight.Wait()
}

// canceledBy returns the signal that canceled the job, or nil.
func (c *jobControl) canceledBy() os.Signal {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.canceled
}

// close stops handling signals (later ones stay queued in the channel, unhandled) and
// removes the job's runtime record.
func (c *jobControl) close() {
	close(c.quit)
	<-c.loopDone
	if c.rt != nil {
		c.rt.unregister(c.pid)
	}
}

func (c *jobControl) loop() {
	defer close(c.loopDone)
	var (
		running *attachment
		ended   bool
		pending []os.Signal // savepoint requests received before the job runs
	)
	for {
		select {
		case <-c.quit:
			return
		case a := <-c.attachCh:
			running = &a
			for _, s := range pending {
				c.request(running, s)
			}
			pending = nil
		case ack := <-c.endCh:
			ended = true
			close(ack)
		case s := <-c.sigs:
			switch s {
			case syscall.SIGINT, syscall.SIGTERM:
				if first := c.canceledBy(); first != nil {
					if c.exit == nil {
						continue
					}
					fmt.Fprintf(c.log, "streamstate: %s while canceling job %s (on %s): exiting at once, without waiting for the job to stop\n",
						signalName(s), c.jobID, signalName(first))
					if c.rt != nil {
						c.rt.unregister(c.pid)
					}
					c.exit(forcedExitCode(s))
					continue
				}
				c.mu.Lock()
				c.canceled = s
				c.mu.Unlock()
				switch {
				case ended:
				case running != nil:
					fmt.Fprintf(c.log, "%s: canceling job %s without a savepoint (%s again exits at once)\n", signalName(s), c.jobID, signalName(s))
					running.job.Cancel()
				default:
					fmt.Fprintf(c.log, "%s: canceling job %s while it starts (%s again exits at once)\n", signalName(s), c.jobID, signalName(s))
					c.cancelStart()
				}
				c.answerAll(kindOf(syscall.SIGUSR1), "the job is being canceled ("+signalName(s)+")")
				c.answerAll(kindOf(syscall.SIGUSR2), "the job is being canceled ("+signalName(s)+")")
			case syscall.SIGUSR1, syscall.SIGUSR2:
				switch {
				case c.canceledBy() != nil:
					fmt.Fprintf(c.log, "%s ignored: job %s is being canceled\n", signalName(s), c.jobID)
					c.answerAll(kindOf(s), "the job is being canceled")
				case ended:
					c.answerAll(kindOf(s), "the job has ended")
				case running == nil:
					fmt.Fprintf(c.log, "%s: job %s is starting; the %s is taken as soon as it runs\n", signalName(s), c.jobID, what(s))
					pending = append(pending, s)
				default:
					c.request(running, s)
				}
			}
		}
	}
}

func kindOf(s os.Signal) string {
	if s == syscall.SIGUSR2 {
		return requestStop
	}
	return requestSavepoint
}

func what(s os.Signal) string {
	if s == syscall.SIGUSR2 {
		return "stop-with-savepoint"
	}
	return "savepoint"
}

// request claims the requests the signal s answers (those written before it arrived) and
// takes the savepoints in the background, one per format asked for (canonical when no request
// names one: a bare kill -USR1), canonical first. A stop-with-savepoint takes one savepoint
// only: native if every request asks for native, else canonical (which every backend
// restores); each answer says which it got.
func (c *jobControl) request(a *attachment, s os.Signal) {
	var claimed []claimedRequest
	if c.rt != nil {
		claimed = c.rt.claimRequests(c.pid, kindOf(s))
	}
	stop := s == syscall.SIGUSR2
	byFormat := map[backend.SavepointFormatType][]string{}
	for _, r := range claimed {
		if r.err != nil {
			c.answer(r.nonce, savepointResult{JobID: c.jobID, Stop: stop, Error: r.err.Error()})
			continue
		}
		byFormat[r.format] = append(byFormat[r.format], r.nonce)
	}
	if stop && len(byFormat) > 1 {
		byFormat[backend.SavepointFormatCanonical] = append(byFormat[backend.SavepointFormatCanonical], byFormat[backend.SavepointFormatNative]...)
		delete(byFormat, backend.SavepointFormatNative)
	}
	if len(byFormat) == 0 && (len(claimed) == 0 || stop) {
		byFormat[backend.SavepointFormatCanonical] = nil
	}
	c.inFlight.Go(func() {
		for _, f := range []backend.SavepointFormatType{backend.SavepointFormatCanonical, backend.SavepointFormatNative} {
			nonces, ok := byFormat[f]
			if !ok {
				continue
			}
			res := a.savepoint(stop, f)
			for _, n := range nonces {
				c.answer(n, res)
			}
		}
	})
}

// answer writes res as the answer to the request nonce, logging a failure.
func (c *jobControl) answer(nonce string, res savepointResult) {
	if err := c.rt.answer(c.pid, nonce, res); err != nil {
		fmt.Fprintf(c.log, "streamstate: answering a savepoint request: %v\n", err)
	}
}

// answerAll answers the pending requests of kind with an error.
func (c *jobControl) answerAll(kind, why string) {
	if c.rt == nil {
		return
	}
	for _, r := range c.rt.claimRequests(c.pid, kind) {
		c.answer(r.nonce, savepointResult{JobID: c.jobID, Stop: kind == requestStop, Error: why})
	}
}
