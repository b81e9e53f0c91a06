//go:build linux && cgo

package pty

import (
	"os"
	"os/signal"
	"syscall"
)

func signalNotify(ch chan os.Signal) { signal.Notify(ch, syscall.SIGWINCH) }

func signalStop(ch chan os.Signal) { signal.Stop(ch) }
