// Package nexmark is the Nexmark benchmark as streamstate jobs: a generator of the
// Person/Auction/Bid event stream of an online auction, faithful to the generator of the
// Nexmark suite (derived from Apache Beam's), and the queries q5, q7, q8 and q11 with the
// semantics of the suite's SQL.
//
// The generator follows the suite's GeneratorConfig: event n is a person, an auction or a bid
// by n mod 50 (proportions 1:3:46); ids grow with the event number (FIRST_PERSON_ID and
// FIRST_AUCTION_ID 1000); bids go to hot auctions and come from hot bidders (ratios 2 and
// 4, hot ids every 100), auctions to hot sellers (ratio 4); other references pick among
// the last 1000 people and 100 in-flight auctions; prices are 10^(6u) cents; extra fields pad
// records to the average sizes 200/500/100 bytes. Event timestamps are baseTime plus n times
// the inter-event delay of FirstEventRate. Each event is a pure function of the seed and its
// number (Beam seeds a Random per event id as well), so the stream splits into any number of
// splits and resumes anywhere. Deliberate departures: Go's PCG replaces java.util.Random
// (so the exact strings differ), and the channel/URL of bids use a small fixed set.
//
// A job package builds on the public API only (stream, state, serde); it must not import a
// concrete backend, storage or config: the caller chooses those.
package nexmark
