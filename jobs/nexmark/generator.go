package nexmark

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Kind is the kind of an event.
type Kind uint8

// The event kinds.
const (
	KindPerson Kind = iota
	KindAuction
	KindBid
)

func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Person is a new user of the auction site.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64 // Unix milliseconds
	Extra        string
}

// Auction is an item put up for sale.
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64
	Reserve     int64
	DateTime    int64
	Expires     int64
	Seller      int64
	Category    int64
	Extra       string
}

// Bid is a bid on an auction.
type Bid struct {
	Auction  int64
	Bidder   int64
	Price    int64 // cents
	Channel  string
	URL      string
	DateTime int64
	Extra    string
}

// Event is one event of the stream: exactly one of Person, Auction and Bid, by Kind.
type Event struct {
	Kind    Kind
	Person  Person
	Auction Auction
	Bid     Bid
}

// Timestamp is the event's time.
func (e *Event) Timestamp() int64 {
	switch e.Kind {
	case KindPerson:
		return e.Person.DateTime
	case KindAuction:
		return e.Auction.DateTime
	}
	return e.Bid.DateTime
}

// Constants of the Nexmark generator.
const (
	FirstPersonID   = 1000
	FirstAuctionID  = 1000
	FirstCategoryID = 10
	NumCategories   = 5

	personProportion  = 1
	auctionProportion = 3
	bidProportion     = 46
	totalProportion   = personProportion + auctionProportion + bidProportion

	hotAuctionRatio = 100 // a hot auction every 100 auctions
	hotSellerRatio  = 100
	hotBidderRatio  = 100
	personIDLead    = 10
	auctionIDLead   = 10
)

// Config configures the generator; DefaultConfig gives the Nexmark suite's defaults.
type Config struct {
	// Seed of every event's random source.
	Seed uint64
	// BaseTime is the timestamp of event 0, in Unix milliseconds.
	BaseTime int64
	// FirstEventRate is events per second of event time.
	FirstEventRate int64
	// Hot ratios: a bid goes to a hot auction with probability 1−1/HotAuctionRatio, and so on.
	HotAuctionRatio, HotSellersRatio, HotBiddersRatio int
	// NumActivePeople bounds the people a non-hot reference picks among; NumInFlightAuctions
	// the auctions.
	NumActivePeople, NumInFlightAuctions int64
	// Average sizes of the records; extra fields pad to them.
	AvgPersonByteSize, AvgAuctionByteSize, AvgBidByteSize int
}

// DefaultConfig returns the Nexmark suite's generator defaults, with an event rate of
// 100,000 events per second of event time.
func DefaultConfig() Config {
	return Config{Seed: 1, BaseTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), FirstEventRate: 100_000,
		HotAuctionRatio: 2, HotSellersRatio: 4, HotBiddersRatio: 4, NumActivePeople: 1000, NumInFlightAuctions: 100,
		AvgPersonByteSize: 200, AvgAuctionByteSize: 500, AvgBidByteSize: 100}
}

// TimestampOf returns the event time of event n.
func (c *Config) TimestampOf(n int64) int64 {
	return c.BaseTime + n*1000/c.FirstEventRate
}

func lastBase0PersonID(n int64) int64 {
	epoch, offset := n/totalProportion, n%totalProportion
	if offset >= personProportion {
		offset = personProportion - 1
	}
	return epoch*personProportion + offset
}

func lastBase0AuctionID(n int64) int64 {
	epoch, offset := n/totalProportion, n%totalProportion
	switch {
	case offset < personProportion:
		epoch--
		offset = auctionProportion - 1
	case offset >= personProportion+auctionProportion:
		offset = auctionProportion - 1
	default:
		offset -= personProportion
	}
	return epoch*auctionProportion + offset
}

func (c *Config) nextBase0PersonID(n int64, r *rand.Rand) int64 {
	numPeople := lastBase0PersonID(n) + 1
	active := min(numPeople, c.NumActivePeople)
	return numPeople - active + r.Int64N(active+personIDLead)
}

func (c *Config) nextBase0AuctionID(n int64, r *rand.Rand) int64 {
	maxAuction := lastBase0AuctionID(n)
	minAuction := max(maxAuction-c.NumInFlightAuctions, 0)
	return minAuction + r.Int64N(maxAuction-minAuction+1+auctionIDLead)
}

// Event returns event n into e, reusing e's strings' storage where it can.
func (c *Config) Event(n int64, e *Event) {
	r := rand.New(rand.NewPCG(c.Seed, uint64(n)))
	ts := c.TimestampOf(n)
	switch rem := n % totalProportion; {
	case rem < personProportion:
		e.Kind = KindPerson
		c.person(n, ts, r, &e.Person)
	case rem < personProportion+auctionProportion:
		e.Kind = KindAuction
		c.auction(n, ts, r, &e.Auction)
	default:
		e.Kind = KindBid
		c.bid(n, ts, r, &e.Bid)
	}
}

var (
	firstNames  = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames   = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	usCities    = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	usStates    = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	hotChannels = []string{"Google", "Facebook", "Baidu", "Apple"}
	hotURLs     = []string{"https://www.nexmark.com/googl/item.htm?query=1", "https://www.nexmark.com/faceb/item.htm?query=1",
		"https://www.nexmark.com/baidu/item.htm?query=1", "https://www.nexmark.com/apple/item.htm?query=1"}
)

func (c *Config) person(n, ts int64, r *rand.Rand, p *Person) {
	p.ID = lastBase0PersonID(n) + FirstPersonID
	p.Name = firstNames[r.IntN(len(firstNames))] + " " + lastNames[r.IntN(len(lastNames))]
	p.EmailAddress = nextString(r, 7) + "@" + nextString(r, 5) + ".com"
	cc := make([]byte, 0, 19)
	for i := range 4 {
		if i > 0 {
			cc = append(cc, ' ')
		}
		cc = append(cc, strconv.Itoa(1000+r.IntN(9000))...)
	}
	p.CreditCard = string(cc)
	p.City = usCities[r.IntN(len(usCities))]
	p.State = usStates[r.IntN(len(usStates))]
	p.DateTime = ts
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + 8
	p.Extra = nextExtra(r, size, c.AvgPersonByteSize)
}

func (c *Config) auction(n, ts int64, r *rand.Rand, a *Auction) {
	a.ID = lastBase0AuctionID(n) + FirstAuctionID
	if r.IntN(c.HotSellersRatio) > 0 {
		a.Seller = lastBase0PersonID(n) / hotSellerRatio * hotSellerRatio
	} else {
		a.Seller = c.nextBase0PersonID(n, r)
	}
	a.Seller += FirstPersonID
	a.Category = FirstCategoryID + int64(r.IntN(NumCategories))
	a.InitialBid = nextPrice(r)
	a.DateTime = ts
	a.Expires = ts + c.nextAuctionLengthMs(n, ts, r)
	a.ItemName = nextString(r, 20)
	a.Description = nextString(r, 100)
	a.Reserve = a.InitialBid + nextPrice(r)
	size := 8 + len(a.ItemName) + len(a.Description) + 8 + 8 + 8 + 8 + 8
	a.Extra = nextExtra(r, size, c.AvgAuctionByteSize)
}

func (c *Config) bid(n, ts int64, r *rand.Rand, b *Bid) {
	if r.IntN(c.HotAuctionRatio) > 0 {
		b.Auction = lastBase0AuctionID(n) / hotAuctionRatio * hotAuctionRatio
	} else {
		b.Auction = c.nextBase0AuctionID(n, r)
	}
	b.Auction += FirstAuctionID
	if r.IntN(c.HotBiddersRatio) > 0 {
		b.Bidder = lastBase0PersonID(n)/hotBidderRatio*hotBidderRatio + 1
	} else {
		b.Bidder = c.nextBase0PersonID(n, r)
	}
	b.Bidder += FirstPersonID
	b.Price = nextPrice(r)
	if i := r.IntN(len(hotChannels) + 1); i < len(hotChannels) {
		b.Channel, b.URL = hotChannels[i], hotURLs[i]
	} else {
		id := r.IntN(10000)
		b.Channel = "channel-" + strconv.Itoa(id)
		b.URL = "https://www.nexmark.com/" + nextString(r, 5) + "/item.htm?query=1&channel_id=" + strconv.Itoa(id)
	}
	b.DateTime = ts
	size := 8 + 8 + 8 + len(b.Channel) + len(b.URL) + 8
	b.Extra = nextExtra(r, size, c.AvgBidByteSize)
}

// nextAuctionLengthMs is how long an auction runs: up to twice the event time until
// NumInFlightAuctions more auctions have started, as the suite computes it.
func (c *Config) nextAuctionLengthMs(n, ts int64, r *rand.Rand) int64 {
	eventsForAuctions := c.NumInFlightAuctions * totalProportion / auctionProportion
	horizon := c.TimestampOf(n+eventsForAuctions) - ts
	return 1 + r.Int64N(max(horizon*2, 1))
}

// nextPrice is a price in cents, log-uniform between $0.01 and $10,000.
func nextPrice(r *rand.Rand) int64 {
	return int64(math.Round(math.Pow(10, r.Float64()*6) * 100))
}

// nextString is a string of 3 to max−1 lowercase letters, with an occasional space.
func nextString(r *rand.Rand, maxLen int) string {
	n := 3 + r.IntN(maxLen-3)
	b := make([]byte, n)
	for i := range b {
		if r.IntN(13) == 0 {
			b[i] = ' '
		} else {
			b[i] = byte('a' + r.IntN(26))
		}
	}
	return string(b)
}

// nextExtra pads a record of currentSize bytes towards desiredAverage: a string of
// desiredAverage − currentSize ± 20% letters.
func nextExtra(r *rand.Rand, currentSize, desiredAverage int) string {
	if currentSize > desiredAverage {
		return ""
	}
	avg := desiredAverage - currentSize
	delta := int(math.Round(float64(avg) * 0.2))
	size := avg - delta
	if delta > 0 {
		size += r.IntN(2 * delta)
	}
	return letters(r, size)
}

// letters returns n random lowercase letters, drawn eight at a time.
func letters(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		x := r.Uint64()
		for j := i; j < min(i+8, n); j++ {
			b[j] = byte('a' + x%26)
			x >>= 8
		}
	}
	return string(b)
}
