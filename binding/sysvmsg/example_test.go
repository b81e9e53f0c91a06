//go:build linux && cgo

package sysvmsg_test

import (
	"context"
	"fmt"
	"os"

	"github.com/posixipc/posixipc/binding/sysvmsg"
)

// One queue carries requests to workers by type and their replies back: a
// C worker does msgrcv(id, &m, size, 1, 0) and msgsnd(id, &reply, n, 0) on
// the same queue, with struct { long mtype; char mtext[]; }.
func Example_byType() {
	q, err := sysvmsg.Open(sysvmsg.Private, os.O_CREATE, 0o600)
	if err != nil {
		panic(err)
	}
	defer q.Close()
	defer q.Remove()
	ctx := context.Background()

	// a worker for type 1 (here in Go; a C peer works the same way)
	go func() {
		buf := make([]byte, 64)
		n, _, err := q.Receive(ctx, buf, 1, 0)
		if err == nil {
			q.Send(ctx, 100, append([]byte("done: "), buf[:n]...))
		}
	}()

	if err := q.Send(ctx, 1, []byte("job 42")); err != nil {
		panic(err)
	}
	buf := make([]byte, 64)
	n, typ, err := q.Receive(ctx, buf, 100, 0)
	if err != nil {
		panic(err)
	}
	fmt.Println(typ, string(buf[:n]))
	// Output: 100 done: job 42
}
