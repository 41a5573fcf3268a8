package main

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// notifier speaks systemd's notification protocol (sd_notify(3)) through
// github.com/coreos/go-systemd/v22/daemon: READY=1 once the daemon is first
// ready, WATCHDOG=1 while it is live, STOPPING=1 when it stops, and STATUS=
// lines. Without NOTIFY_SOCKET (not started by systemd with Type=notify)
// every call does nothing. Errors are logged, never fatal.
type notifier struct {
	log    *zap.Logger
	notify func(state string) (bool, error) // daemon.SdNotify without unsetting the environment
}

func newNotifier(log *zap.Logger) *notifier {
	return &notifier{log: log, notify: func(s string) (bool, error) { return daemon.SdNotify(false, s) }}
}

func (n *notifier) send(state string) {
	sent, err := n.notify(state)
	switch {
	case err != nil:
		n.log.Warn("could not notify systemd", zap.String("state", state), zap.Error(err))
	case sent:
		n.log.Debug("notified systemd", zap.String("state", state))
	}
}

// ready sends READY=1 with a status line.
func (n *notifier) ready(status string) { n.send(daemon.SdNotifyReady + "\nSTATUS=" + status) }

// status sends a STATUS= line.
func (n *notifier) status(status string) { n.send("STATUS=" + status) }

// stopping sends STOPPING=1.
func (n *notifier) stopping() { n.send(daemon.SdNotifyStopping) }

// watchdog pings systemd's watchdog at half the interval systemd asked for
// (WatchdogSec=, passed as WATCHDOG_USEC), but only while live() holds: a
// daemon whose loops are stuck stops pinging and systemd restarts it. It
// returns when ctx is done, at once if systemd asked for no watchdog.
func (n *notifier) watchdog(ctx context.Context, live func() (bool, []string)) error {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("ignoring systemd's watchdog settings", zap.Error(err))
		return nil
	}
	if interval <= 0 {
		return nil
	}
	n.log.Info("systemd watchdog enabled", zap.Duration("interval", interval))
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	wasLive := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ok, why := live()
		if ok {
			n.send(daemon.SdNotifyWatchdog)
		} else if wasLive {
			n.log.Error("not live: no longer pinging systemd's watchdog", zap.Strings("reasons", why))
		}
		wasLive = ok
	}
}
