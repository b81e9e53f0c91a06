//go:build linux && cgo

// Package mq shares POSIX message queues (mq_overview(7)) between Go and C
// programs: the queue a C daemon opens with mq_open("/jobs", ...) is the
// queue Open("/jobs", ...) opens here, message for message, priority for
// priority.
//
// # Model
//
// A *Queue owns one queue descriptor (mqd_t) and closes it in Close; the
// queue itself lives in the kernel until Unlink and the last Close, whoever
// made it. Messages are copied between the caller's buffers and the kernel:
// no Go memory is kept by C. Send and Receive with a caller-owned buffer do
// not allocate.
//
// # Blocking, threads and cancellation
//
// Every blocking call takes a context.Context. A deadline bounds the wait on
// CLOCK_MONOTONIC, so wall-clock jumps do not stretch or shorten it (the
// system calls mq_timedsend/mq_timedreceive would use CLOCK_REALTIME). When
// the context is done the call returns promptly with ctx.Err() (a passed
// deadline also matches syscall.ETIMEDOUT), and nothing was sent or taken:
// a cancelled Receive never loses a message.
//
// A goroutine blocked in C holds an OS thread. To keep thousands of blocked
// goroutines cheap, Send and Receive go through the module's waiter kit
// (internal/gate, as every blocking call does): at most one goroutine per
// queue and direction waits in C; the others wait in Go, where they cost no
// thread, and take their turn; and at most gate.MaxInKernel such waiters
// of the whole process are in C at once (the others wait in the Go
// runtime's poller, on a second, non-blocking open file description of
// their queue, opened through /proc/self/fd by the first such wait and
// held until Close; without /proc they poll with a backoff of 1 to 25 ms).
// So 1,000 goroutines blocked in Receive on one queue cost one thread, and
// 1,000 queues with a blocked receiver each cost a bounded number, each
// woken as soon as its queue has a message. A direction's private
// descriptor is made by its first wait.
//
// The one in C blocks in mq_timedreceive (or mq_timedsend) itself, so the
// kernel hands a message straight to it, as it does to a C receiver. It
// blocks on a private duplicate of the queue descriptor; cancellation (and
// Close) swaps that duplicate for a descriptor that is not a queue and sends
// SIGURG, Go's own preemption signal, to the waiting thread: the kernel
// restarts the interrupted call (Go's handlers use SA_RESTART), which then
// fails with EBADF, and the shim reports the cancellation. A call that had
// already taken its message returns it. Deadlines are CLOCK_MONOTONIC: each
// attempt turns the time left into the CLOCK_REALTIME time mq_timed* expect,
// and an attempt that a wall-clock jump ends early is followed by another.
// A deadline too far away to represent means none.
//
// A deadline is no reason to give up on a message that is there: a call
// whose deadline has passed (before the call, or while it waited for its
// turn in Go) still makes one attempt that does not wait, and a call that
// finds another goroutine waiting in C tries at once before it parks. So
// receivers with very short deadlines keep a full queue moving
// (BenchmarkReceiveStorm).
//
// While this process holds a notification registration of the queue
// (Notify, NotifySignal), the waiter never blocks in mq_timed*: on Linux a
// close of any descriptor of the queue by the registered process removes
// the registration, and the swap above closes one. It then tries without
// waiting and sleeps in ppoll(2) on its descriptor and an eventfd, and a
// cancellation writes the eventfd; Notify moves a waiter already blocked
// to ppoll before it registers. So only StopNotify, a fired notification
// or Close ends a registration, as POSIX says. (Closing another Queue of
// the same queue in this process still removes it: that is the kernel's
// rule, not this package's.) In this mode a goroutine waiting in Receive is
// not "blocked in mq_receive" for the kernel, so the notification fires
// even while one waits.
//
// Close is idempotent and safe while calls are blocked: they return an error
// wrapping os.ErrClosed, and the descriptor is closed only after the last of
// them has left C.
//
// # Errors
//
// Errors are *fs.PathError with the C call and the queue name, wrapping the
// syscall.Errno, so errors.Is(err, syscall.EAGAIN) and errors.Is(err,
// fs.ErrNotExist) work. Names are checked before any C call (see Open). When
// a system limit stops a creation, the error wraps a *LimitError that names
// the setting to raise: /proc/sys/fs/mqueue/msg_max, msgsize_max,
// queues_max, or RLIMIT_MSGQUEUE (ulimit -q). Processes without
// CAP_SYS_RESOURCE (root in a container, often) are bound by msg_max (10 by
// default).
//
// # Notification
//
// Notify, NotifyChan and NotifySignal are mq_notify(3) as POSIX defines it:
// one registered process per queue (EBUSY for the others), one shot (register
// again after it fires), and only on the transition from empty to non-empty
// while no process is blocked in mq_receive on the queue (a goroutine blocked
// in Receive counts as such a process: the message goes to it and nobody is
// notified). Callbacks run on a thread glibc creates; C holds only an integer
// handle. A panic in a callback is not recovered: it ends the program, as a
// panic in any goroutine does.
//
// Create and Open undo what they made when a later step fails (a queue
// created by the call is unlinked), so a retry does not find EEXIST.
//
// # Not supported
//
// Programs that take SIGURG away from the Go runtime (it never should be)
// cannot cancel a blocked call outside notification mode. mq_notify with
// SIGEV_THREAD attributes (pthread_attr_t), and queues outside
// the IPC namespace of the process (a container needs --ipc=host or a
// shared IPC namespace to see the host's queues).
package mq
