// Package fraud is Flink's fraud-detection walkthrough as a streamstate job: per account, a
// transaction under $1 followed within one minute by one over $500 raises an alert. The
// detector keeps a flag in ValueState and clears it with a timer, as in the walkthrough.
//
// Two deliberate departures make every run reproducible, so that a run killed and resumed
// any number of times can be compared with an uninterrupted one: the minute is event time
// (the walkthrough uses processing time), and the generator partitions transactions by
// account, as a Kafka topic keyed by account would, so each account's transactions arrive
// in order.
//
// A job package builds on the public API only (stream, state, serde); it must not import a
// concrete backend, storage or config: the caller chooses those.
package fraud
