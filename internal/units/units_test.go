package units

import "testing"

func TestParseMemorySize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1": 1, "12": 12, "7 bytes": 7, "5 mb": 5 << 20, "5MB": 5 << 20, "64mb": 64 << 20,
		"256m": 256 << 20, "512k": 512 << 10, "3kb": 3 << 10, "5 mib": 5 << 20, "1 GB": 1 << 30, "2 tebibytes": 2 << 40, "2tebibytes": 2 << 40} {
		if got, err := ParseMemorySize(in); err != nil || got != want {
			t.Errorf("ParseMemorySize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "mb", "-1mb", "1.5gb", "5 parsecs", "1 xb", "99999999999999999999", "9000000tb", "9999999999 tb"} {
		if _, err := ParseMemorySize(in); err == nil {
			t.Errorf("ParseMemorySize(%q) accepted", in)
		}
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "TRUE": true, " False ": false, "false": false} {
		if got, err := ParseBool(in); err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1", "0", "t", "yes", "on"} {
		if _, err := ParseBool(in); err == nil {
			t.Errorf("ParseBool(%q) accepted", in)
		}
	}
}
