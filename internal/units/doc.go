// Package units parses the values of configuration keys that more than one package reads:
// memory sizes and booleans as Flink writes them. It imports only the standard library; config and the
// lsm backend import it.
package units
