// Package units parses the values of configuration keys that more than one package reads:
// memory sizes as Flink writes them. It imports only the standard library; config and the
// lsm backend import it.
package units
