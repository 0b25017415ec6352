package units

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseMemorySize parses a memory size as Flink writes them: a number and an optional unit,
// b/bytes, k/kb/kib/kibibytes, m/mb/mib/mebibytes, g/gb/gib/gibibytes, t/tb/tib/tebibytes
// (case-insensitive, powers of 1024, spaces allowed), e.g. "64mb", "1 gb", "4096". A sign, a
// fraction, an unknown unit or a size over 64 bits is an error naming the value.
func ParseMemorySize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a memory size (e.g. 64mb)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a memory size (e.g. 64mb): its number overflows 64 bits", s)
	}
	shift := 0
	switch strings.TrimSpace(t[i:]) {
	case "", "b", "bytes":
	case "k", "kb", "kib", "kibibytes":
		shift = 10
	case "m", "mb", "mib", "mebibytes":
		shift = 20
	case "g", "gb", "gib", "gibibytes":
		shift = 30
	case "t", "tb", "tib", "tebibytes":
		shift = 40
	default:
		return 0, fmt.Errorf("%q has an unknown unit %q; use b, kb, mb, gb or tb", s, strings.TrimSpace(t[i:]))
	}
	if n > (1<<63-1)>>shift {
		return 0, fmt.Errorf("%q overflows 64 bits", s)
	}
	return n << shift, nil
}

// ParseBool parses a boolean as Flink's configuration does: true or false, in any case and
// with surrounding spaces. Anything else ("1", "yes", "t") is an error naming the value, so a
// key read by two packages means the same in both.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true or false)", s)
}
