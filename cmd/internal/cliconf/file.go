package cliconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// applyFile sets each flag still at its default from the YAML (or JSON)
// file o.file: a mapping from FileKey names to scalars, or lists of scalars
// for flags that take comma-separated lists. Unknown keys, nested mappings
// and the file flag itself are errors; a null value is as if absent.
func applyFile(fs *flag.FlagSet, o *Origins, fileFlag string) error {
	data, err := os.ReadFile(o.file)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	values, err := parseFile(data)
	if err != nil {
		return fmt.Errorf("config file %s: %w", o.file, err)
	}
	byKey := map[string]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) { byKey[FileKey(f.Name)] = f })
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(values)) {
		raw := values[key]
		f := byKey[key]
		switch {
		case f == nil:
			errs = append(errs, fmt.Errorf("config file %s: unknown setting %q", o.file, key))
			continue
		case f.Name == fileFlag:
			errs = append(errs, fmt.Errorf("config file %s: %s cannot be set in a config file", o.file, key))
			continue
		case o.src[f.Name] != Default:
			continue // a flag or the environment set it
		}
		v, present, err := scalarText(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %s: %w", o.file, key, err))
			continue
		}
		if !present {
			continue
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %s: %q: %w", o.file, key, v, err))
			continue
		}
		o.src[f.Name] = File
	}
	return errors.Join(errs...)
}

// parseFile returns the top-level mapping of a YAML or JSON document.
func parseFile(data []byte) (map[string]json.RawMessage, error) {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
		return nil, nil // an empty file sets nothing
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal(j, &values); err != nil {
		return nil, errors.New("want a mapping of settings to values at the top level")
	}
	return values, nil
}

// scalarText returns the text a flag is set from: a string as is, a number
// or boolean as written, a list of those joined with commas. present is
// false for null.
func scalarText(raw json.RawMessage) (text string, present bool, err error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", false, err
	}
	switch v := v.(type) {
	case nil:
		return "", false, nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, ok := scalar(e)
			if !ok {
				return "", false, fmt.Errorf("item %d: want a string, number or boolean", i)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), true, nil
	default:
		s, ok := scalar(v)
		if !ok {
			return "", false, errors.New("want a string, number, boolean or list")
		}
		return s, true, nil
	}
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return fmt.Sprint(v), true
	}
	return "", false
}
