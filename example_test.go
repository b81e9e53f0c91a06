//go:build linux && cgo

package posixipc_test

import (
	"fmt"
	"os"

	"github.com/posixipc/posixipc"
)

// The raw layer mirrors the C calls one to one, with errors as
// syscall.Errno; most programs want binding/mq instead (deadlines,
// cancellation, a bounded number of threads).
func Example_rawQueue() {
	name := fmt.Sprintf("/posixipc-example-raw-%d", os.Getpid())
	q, err := posixipc.MqOpen(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600, &posixipc.MqAttr{MaxMsg: 4, MsgSize: 64})
	if err != nil {
		panic(err)
	}
	defer posixipc.MqUnlink(name)
	defer posixipc.MqClose(q)
	if err := posixipc.MqSend(q, []byte("raw"), 3); err != nil {
		panic(err)
	}
	buf := make([]byte, 64)
	n, prio, err := posixipc.MqReceive(q, buf)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(buf[:n]), prio)
	// Output: raw 3
}
