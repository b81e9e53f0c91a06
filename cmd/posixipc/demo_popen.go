//go:build linux && cgo

package main

import (
	"bufio"
	"errors"
	"fmt"

	"github.com/posixipc/posixipc/binding/popen"
	"github.com/posixipc/posixipc/internal/peer"
)

func init() {
	addDemoStep(demoStep{order: 60, title: "popen: Go reads a C program's output (crt/popenpeer.c) through glibc's popen/pclose", run: demoPopen})
}

func demoPopen(log func(string, ...any)) error {
	pp, err := peer.Path("popenpeer")
	if err != nil {
		return err
	}
	cmd := "exec '" + pp + "' lines 3"
	p, err := popen.Open(cmd, "re")
	if err != nil {
		return err
	}
	log(`popen("... lines 3", "re"): reading through the runtime poller`)
	sc := bufio.NewScanner(p)
	for sc.Scan() {
		log("Go read %q", sc.Text())
	}
	if err := p.Close(); err != nil {
		return err
	}
	log("pclose: exit status 0")
	for _, args := range []string{"exit 3", "kill 9"} {
		p, err := popen.Open("exec '"+pp+"' "+args, "re")
		if err != nil {
			return err
		}
		err = p.Close()
		var ee *popen.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("demo popen: %s: want an exit error, got %v", args, err)
		}
		log("popenpeer %s: pclose says exit code %d, signal %d (%v)", args, ee.ExitCode(), ee.Signal(), ee)
	}
	return nil
}
