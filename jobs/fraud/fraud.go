package fraud

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/streamstate/streamstate/state"
	"github.com/streamstate/streamstate/stream"
)

// Transaction is one card transaction. Amount is in cents.
type Transaction struct {
	Account   int64
	Amount    int64
	Timestamp int64 // Unix milliseconds
}

// Alert reports a small transaction followed by a large one on an account.
type Alert struct {
	Account   int64
	Small     int64 // cents
	Large     int64 // cents
	Timestamp int64 // of the large transaction
}

// Thresholds of the walkthrough, in cents.
const (
	SmallAmount = 100
	LargeAmount = 50000
	Window      = time.Minute
)

// Config configures the job.
type Config struct {
	// Events is the number of transactions; 0 means unbounded.
	Events int64
	// Accounts is the number of accounts. Default: 10,000.
	Accounts int64
	// Splits is the number of source partitions; it must not change between runs of a job.
	// Default: 8.
	Splits int
	// Rate limits transactions per second over all splits; 0 means as fast as possible.
	Rate float64
	// Seed of the generator. Default: 1.
	Seed uint64
	// Interval is the event time between two transactions of one split. Default: 10 ms.
	Interval time.Duration
	// Output is the directory of the alert files.
	Output string
}

func (c *Config) defaults() {
	if c.Accounts == 0 {
		c.Accounts = 10_000
	}
	if c.Splits == 0 {
		c.Splits = 8
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Interval == 0 {
		c.Interval = 10 * time.Millisecond
	}
}

// Validate reports bad settings.
func (c Config) Validate() error {
	c.defaults()
	switch {
	case c.Events < 0:
		return fmt.Errorf("fraud: events %d must not be negative", c.Events)
	case c.Accounts < int64(c.Splits):
		return fmt.Errorf("fraud: %d accounts are fewer than the %d splits", c.Accounts, c.Splits)
	case c.Rate < 0:
		return fmt.Errorf("fraud: rate %v must not be negative", c.Rate)
	case c.Output == "":
		return fmt.Errorf("fraud: an output directory is required")
	}
	return nil
}

// BaseTime is the event time of the first transaction: fixed, so runs are reproducible.
var BaseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// Build adds the job to g: transactions → keyBy(account) → detector → alert files.
func Build(g *stream.Graph, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c.defaults()
	src := &Source{cfg: c}
	txs := stream.FromSource(g, "transactions", src, stream.WatermarkStrategy{})
	alerts := stream.Process(stream.KeyBy(txs, func(t Transaction) int64 { return t.Account }, nil), "fraud-detector",
		func() stream.KeyedProcessFunction[int64, Transaction, Alert] { return &Detector{} })
	stream.SinkToFiles(alerts, "alerts", c.Output, AppendAlert)
	return nil
}

// AppendAlert formats an alert as one line.
func AppendAlert(dst []byte, a Alert) []byte {
	dst = append(dst, "alert account="...)
	dst = strconv.AppendInt(dst, a.Account, 10)
	dst = append(dst, " small="...)
	dst = appendCents(dst, a.Small)
	dst = append(dst, " large="...)
	dst = appendCents(dst, a.Large)
	dst = append(dst, " at="...)
	return time.UnixMilli(a.Timestamp).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
}

func appendCents(dst []byte, c int64) []byte {
	dst = strconv.AppendInt(append(dst, '$'), c/100, 10)
	dst = append(dst, '.', byte('0'+c%100/10), byte('0'+c%10))
	return dst
}

// Detector is the walkthrough's FraudDetector.
type Detector struct {
	flag  state.ValueState[int64] // the small amount, when the last transaction was small
	timer state.ValueState[int64]
}

// Open implements stream.KeyedProcessFunction.
func (d *Detector) Open(ctx *stream.RuntimeContext[int64]) error {
	var err error
	if d.flag, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int64]{Name: "flag"}); err != nil {
		return err
	}
	d.timer, err = state.GetValueState(ctx.State(), state.ValueDescriptor[int64]{Name: "timer"})
	return err
}

// ProcessElement implements stream.KeyedProcessFunction.
func (d *Detector) ProcessElement(t Transaction, ctx *stream.Context[int64, Alert]) error {
	small, flagged, err := d.flag.Value()
	if err != nil {
		return err
	}
	if flagged {
		// The timer may not have fired yet although the minute has passed in event time
		// (watermarks lag behind records): check the time, so the result never depends on
		// when watermarks arrive.
		at, _, err := d.timer.Value()
		if err != nil {
			return err
		}
		if t.Amount > LargeAmount && t.Timestamp <= at {
			if err := ctx.Collect(Alert{Account: t.Account, Small: small, Large: t.Amount, Timestamp: t.Timestamp}); err != nil {
				return err
			}
		}
		if err := d.cleanUp(ctx); err != nil {
			return err
		}
	}
	if t.Amount < SmallAmount {
		if err := d.flag.Update(t.Amount); err != nil {
			return err
		}
		at := t.Timestamp + Window.Milliseconds()
		if err := ctx.RegisterEventTimeTimer(at); err != nil {
			return err
		}
		return d.timer.Update(at)
	}
	return nil
}

// OnTimer implements stream.KeyedProcessFunction: a minute passed without a large
// transaction.
func (d *Detector) OnTimer(int64, *stream.Context[int64, Alert]) error {
	if err := d.timer.Clear(); err != nil {
		return err
	}
	return d.flag.Clear()
}

func (d *Detector) cleanUp(ctx *stream.Context[int64, Alert]) error {
	at, ok, err := d.timer.Value()
	if err != nil {
		return err
	}
	if ok {
		if err := ctx.DeleteEventTimeTimer(at); err != nil {
			return err
		}
	}
	if err := d.timer.Clear(); err != nil {
		return err
	}
	return d.flag.Clear()
}

// Source generates transactions. Split s holds the accounts a with a % splits == s, and its
// k-th transaction is a pure function of (seed, s, k), so a split resumes anywhere.
type Source struct{ cfg Config }

// NewSource returns the job's transaction source.
func NewSource(c Config) *Source {
	c.defaults()
	return &Source{cfg: c}
}

// NumSplits implements stream.Source.
func (s *Source) NumSplits() int { return s.cfg.Splits }

// OpenSplit implements stream.Source.
func (s *Source) OpenSplit(split int, pos int64) (stream.SplitReader[Transaction], error) {
	return &reader{cfg: s.cfg, split: int64(split), pos: pos, start: time.Now(), startPos: pos}, nil
}

type reader struct {
	cfg      Config
	split    int64
	pos      int64
	start    time.Time
	startPos int64
}

// splitEvents is the number of transactions of the split: Events dealt round robin.
func (r *reader) splitEvents() int64 {
	n, s := r.cfg.Events, int64(r.cfg.Splits)
	return n/s + b2i(r.split < n%s)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Next implements stream.SplitReader.
func (r *reader) Next() (Transaction, int64, stream.ReadStatus, error) {
	if r.cfg.Events > 0 && r.pos >= r.splitEvents() {
		return Transaction{}, 0, stream.Done, nil
	}
	if r.cfg.Rate > 0 {
		perSplit := r.cfg.Rate / float64(r.cfg.Splits)
		due := r.start.Add(time.Duration(float64(r.pos-r.startPos) / perSplit * float64(time.Second)))
		if time.Now().Before(due) {
			return Transaction{}, 0, stream.NoData, nil
		}
	}
	t := Generate(r.cfg, int(r.split), r.pos)
	r.pos++
	return t, t.Timestamp, stream.Record, nil
}

// Position implements stream.SplitReader.
func (r *reader) Position() int64 { return r.pos }

// Generate returns the k-th transaction of split.
func Generate(c Config, split int, k int64) Transaction {
	c.defaults()
	rng := rand.New(rand.NewPCG(c.Seed^uint64(split)*0x9e3779b97f4a7c15, uint64(k)))
	perSplit := c.Accounts / int64(c.Splits)
	acct := int64(split) + int64(c.Splits)*rng.Int64N(perSplit)
	var amount int64
	switch p := rng.IntN(100); {
	case p < 4:
		amount = 1 + rng.Int64N(SmallAmount-1) // under $1
	case p < 8:
		amount = LargeAmount + 1 + rng.Int64N(50000) // over $500
	default:
		amount = SmallAmount + rng.Int64N(LargeAmount-SmallAmount)
	}
	return Transaction{Account: acct, Amount: amount, Timestamp: BaseTime + k*c.Interval.Milliseconds()}
}
