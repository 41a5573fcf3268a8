// Package cliconf gives untrackd's commands one way to take their settings:
// a command-line flag, else an UNTRACKD_* environment variable, else (for
// commands that have one) a YAML configuration file, else the flag's
// default. It records where each value came from, so that callers can let
// lower-priority sources (such as FelixConfiguration resources) fill in
// only what was not set locally, and so that errors name their source.
package cliconf

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvPrefix starts the environment variable of every flag.
const EnvPrefix = "UNTRACKD_"

// ErrUsage reports a command-line error that the flag package has already
// printed with the usage.
var ErrUsage = errors.New("usage")

// EnvName returns the environment variable for a flag:
// "etcd-endpoints" → "UNTRACKD_ETCD_ENDPOINTS".
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// FileKey returns the configuration file key for a flag, the flag name in
// lower camel case: "health-port" → "healthPort", "etcd-cacert" → "etcdCacert".
func FileKey(flagName string) string {
	parts := strings.Split(flagName, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// Source is where a setting's value came from, in increasing priority.
type Source int

// The sources, lowest priority first.
const (
	Default Source = iota
	File
	Env
	Flag
)

// Origins records the source of each flag's value. The zero value is not
// usable; Parse returns one.
type Origins struct {
	src  map[string]Source
	file string // the configuration file read, if any
}

// Source returns where the flag's value came from.
func (o *Origins) Source(flagName string) Source { return o.src[flagName] }

// Local reports whether the flag was set by a local source (flag,
// environment or file) rather than left at its default.
func (o *Origins) Local(flagName string) bool { return o.src[flagName] != Default }

// Describe names where the flag's value came from, for messages:
// "--health-port", "UNTRACKD_HEALTH_PORT", "config file /etc/untrackd/untrackd.yaml: healthPort"
// or "--health-port (default)".
func (o *Origins) Describe(flagName string) string {
	switch o.src[flagName] {
	case Flag:
		return "--" + flagName
	case Env:
		return EnvName(flagName)
	case File:
		return "config file " + o.file + ": " + FileKey(flagName)
	}
	return "--" + flagName + " (default)"
}

// Parse parses args into fs (which must use flag.ContinueOnError), then
// sets each flag not given on the command line from its environment
// variable if present, then, if fileFlag is the name of a flag holding a
// file path and that flag is set (by flag or environment), from that YAML
// file. Positional arguments are an error. A value a flag rejects is an
// error naming its source, e.g. `UNTRACKD_HEALTH_PORT="x": ...` or
// `config file /etc/untrackd/untrackd.yaml: healthPort: ...`; a command-line
// error has been printed by the flag package and is ErrUsage.
func Parse(fs *flag.FlagSet, args []string, fileFlag string) (*Origins, error) {
	if err := fs.Parse(args); err != nil {
		return nil, ErrUsage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o, err := applyEnv(fs, nil)
	if err != nil {
		return nil, err
	}
	if fileFlag == "" {
		return o, nil
	}
	if f := fs.Lookup(fileFlag); f != nil && f.Value.String() != "" {
		o.file = f.Value.String()
		if err := applyFile(fs, o, fileFlag); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// ParseInterspersed parses args into fs allowing flags and positional
// arguments in any order ("get hep h1 -o json"; "--" ends the flags), then
// sets each flag not given on the command line for which env returns true
// (nil: every flag) from its environment variable. It returns the
// positional arguments. Errors are as Parse's.
func ParseInterspersed(fs *flag.FlagSet, args []string, env func(flagName string) bool) (*Origins, []string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, ErrUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // everything after "--"
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	o, err := applyEnv(fs, env)
	return o, pos, err
}

// applyEnv records the flags set on the command line and sets the others
// (those env selects) from their environment variables.
func applyEnv(fs *flag.FlagSet, env func(string) bool) (*Origins, error) {
	o := &Origins{src: map[string]Source{}}
	fs.Visit(func(f *flag.Flag) { o.src[f.Name] = Flag })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if o.src[f.Name] != Default || (env != nil && !env(f.Name)) {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			return
		}
		o.src[f.Name] = Env
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}
