package config

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"gopkg.in/yaml.v3"
)

// LoadYAML reads a flink-conf style YAML file into flat keys. Both spellings work:
// flat ("state.backend.type: lsm") and nested ("state: {backend: {type: lsm}}"); nested maps
// are joined with dots. Lists are not configuration values and are rejected.
func LoadYAML(r io.Reader) (map[string]string, error) {
	var doc map[string]any
	dec := yaml.NewDecoder(r)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]string{}, nil
		}
		return nil, fmt.Errorf("config file: %w", err)
	}
	out := map[string]string{}
	if err := flatten("", doc, out); err != nil {
		return nil, err
	}
	return out, nil
}

func flatten(prefix string, m map[string]any, out map[string]string) error {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		var s string
		switch v := v.(type) {
		case map[string]any:
			if err := flatten(key, v, out); err != nil {
				return err
			}
			continue
		case []any:
			return fmt.Errorf("config key %s: lists are not supported", key)
		case nil:
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case int:
			s = strconv.Itoa(v)
		case float64:
			s = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			s = fmt.Sprint(v)
		}
		if old, dup := out[key]; dup && old != s {
			return fmt.Errorf("config key %s is given twice (%q and %q)", key, old, s)
		}
		out[key] = s
	}
	return nil
}
