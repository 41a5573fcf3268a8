package main

import (
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap/zapcore"
)

// portValue is a flag holding a TCP port, 0-65535 (0: any free port).
type portValue int

func (p *portValue) String() string { return strconv.Itoa(int(*p)) }

func (p *portValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q is not a port (want 0-65535)", s)
	}
	*p = portValue(n)
	return nil
}

// levelValue is a flag holding a log level, in zap's or Felix's names.
type levelValue zapcore.Level

func (l *levelValue) String() string { return zapcore.Level(*l).String() }

func (l *levelValue) Set(s string) error {
	lvl, err := parseLevel(s)
	if err != nil {
		return err
	}
	*l = levelValue(lvl)
	return nil
}

// parseLevel accepts zap's level names (debug, info, warn, error) and
// Felix's (Trace, Debug, Info, Warning, Error, Fatal, Panic), in any case.
// Trace, which zap lacks, is debug.
func parseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace", "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	case "panic":
		return zapcore.PanicLevel, nil
	case "fatal":
		return zapcore.FatalLevel, nil
	}
	return zapcore.InfoLevel, fmt.Errorf("%q is not a log level (want debug, info, warn, error, fatal or panic)", s)
}

// choiceValue is a flag holding one of a fixed set of words.
type choiceValue struct {
	value   string
	choices []string
}

func (c *choiceValue) String() string {
	if c == nil {
		return ""
	}
	return c.value
}

func (c *choiceValue) Set(s string) error {
	for _, ch := range c.choices {
		if s == ch {
			c.value = s
			return nil
		}
	}
	return fmt.Errorf("%q: want %s", s, strings.Join(c.choices, " or "))
}

// markValue is a flag holding a packet-mark bit: one bit of 32.
type markValue uint32

func (m *markValue) String() string { return fmt.Sprintf("%#x", uint32(*m)) }

func (m *markValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil || n == 0 || n&(n-1) != 0 {
		return fmt.Errorf("%q is not a single bit of a 32-bit mark (e.g. 0x10000000)", s)
	}
	*m = markValue(n)
	return nil
}

func zapLevel(l levelValue) zapcore.Level { return zapcore.Level(l) }
