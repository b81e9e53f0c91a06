//go:build linux && cgo

package posixipc

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"
)

// IPCPrivate is the key of a new, unnamed System V object (IPC_PRIVATE).
const IPCPrivate = 0

// The msgrcv, msgsnd and semop flags (msgrcv(2), semop(2)).
const (
	MSG_EXCEPT  = C.PI_MSG_EXCEPT
	MSG_NOERROR = C.PI_MSG_NOERROR
	IPC_NOWAIT  = C.PI_IPC_NOWAIT
	SEM_UNDO    = C.PI_SEM_UNDO
)

// IPCPerm is struct ipc_perm as Go sees it: the key, owner, creator, mode
// and sequence number of a System V object.
type IPCPerm struct {
	Key, UID, GID, CUID, CGID, Mode, Seq int64
}

func ipcPerm(p C.struct_pi_ipc_perm) IPCPerm {
	return IPCPerm{Key: int64(p.key), UID: int64(p.uid), GID: int64(p.gid), CUID: int64(p.cuid),
		CGID: int64(p.cgid), Mode: int64(p.mode), Seq: int64(p.seq)}
}

// MsgStat is struct msqid_ds as Go sees it (msgctl IPC_STAT).
type MsgStat struct {
	IPCPerm
	QNum, QBytes, CBytes, LSPid, LRPid int64
	STime, RTime, CTime                int64 // seconds since the epoch
}

// Msgget wraps msgget(2): the id of the queue of key (flag: IPC_CREAT,
// IPC_EXCL and the permission bits).
func Msgget(key, flag int) (int, error) {
	var id C.int
	if e := C.pi_msgget(C.int(key), C.int(flag), &id); e != 0 {
		return -1, errnoErr(e)
	}
	return int(id), nil
}

// MsgctlStat wraps msgctl(id, IPC_STAT).
func MsgctlStat(id int) (MsgStat, error) {
	var s C.struct_pi_msg_stat
	if e := C.pi_msgctl_stat(C.int(id), &s); e != 0 {
		return MsgStat{}, errnoErr(e)
	}
	return MsgStat{
		IPCPerm: ipcPerm(s.perm), QNum: int64(s.qnum), QBytes: int64(s.qbytes),
		CBytes: int64(s.cbytes), LSPid: int64(s.lspid), LRPid: int64(s.lrpid),
		STime: int64(s.stime), RTime: int64(s.rtime), CTime: int64(s.ctime),
	}, nil
}

// MsgctlSet wraps msgctl(id, IPC_SET) with the owner, mode and byte limit.
func MsgctlSet(id int, uid, gid, mode, qbytes int64) error {
	return errnoErr(C.pi_msgctl_set(C.int(id), C.int64_t(uid), C.int64_t(gid), C.int64_t(mode), C.int64_t(qbytes)))
}

// MsgctlRmid wraps msgctl(id, IPC_RMID).
func MsgctlRmid(id int) error { return errnoErr(C.pi_msgctl_rmid(C.int(id))) }

// Msgsnd wraps msgsnd(2): it sends { long mtype = typ; char mtext[] = p }.
func Msgsnd(id int, typ int64, p []byte, flag int) error {
	return errnoErr(C.pi_msgsnd(C.int(id), C.int64_t(typ), bufPtr(p), C.size_t(len(p)), C.int(flag)))
}

// Msgrcv wraps msgrcv(2): it receives into p and returns the text's length
// and the message's type.
func Msgrcv(id int, p []byte, typ int64, flag int) (int, int64, error) {
	r := C.pi_msgrcv(C.int(id), bufPtr(p), C.size_t(len(p)), C.int64_t(typ), C.int(flag))
	if r.err != 0 {
		return 0, 0, errnoErr(r.err)
	}
	return int(r.len), int64(r._type), nil
}

// MsgsndWait sends like Msgsnd, blocking inside C until it is done, fails
// or w is kicked (ECANCELED: nothing sent).
func MsgsndWait(w Waiter, id int, typ int64, p []byte, flag int) error {
	return errnoErr(C.pi_msgsnd_wait(w.w, C.int(id), C.int64_t(typ), bufPtr(p), C.size_t(len(p)), C.int(flag)))
}

// MsgrcvWait receives like Msgrcv, blocking inside C until a message comes,
// the call fails or w is kicked (ECANCELED: nothing taken).
func MsgrcvWait(w Waiter, id int, p []byte, typ int64, flag int) (int, int64, error) {
	r := C.pi_msgrcv_wait(w.w, C.int(id), bufPtr(p), C.size_t(len(p)), C.int64_t(typ), C.int(flag))
	if r.err != 0 {
		return 0, 0, errnoErr(r.err)
	}
	return int(r.len), int64(r._type), nil
}

// SemStat is struct semid_ds as Go sees it (semctl IPC_STAT).
type SemStat struct {
	IPCPerm
	NSems        int64
	OTime, CTime int64 // seconds since the epoch
}

// SemBuf is struct sembuf, field for field (size SemBufSize).
type SemBuf struct {
	Num uint16 // sem_num
	Op  int16  // sem_op
	Flg int16  // sem_flg: IPC_NOWAIT, SEM_UNDO
}

// SemBufSize is sizeof(struct sembuf).
const SemBufSize = C.PI_SEMBUF_SIZE

// The semctl commands of SemctlGet.
const (
	GETVAL  = C.PI_GETVAL
	GETPID  = C.PI_GETPID
	GETNCNT = C.PI_GETNCNT
	GETZCNT = C.PI_GETZCNT
)

var _ [unsafe.Sizeof(SemBuf{}) - SemBufSize]struct{}
var _ [SemBufSize - unsafe.Sizeof(SemBuf{})]struct{}

// Semget wraps semget(2).
func Semget(key, nsems, flag int) (int, error) {
	var id C.int
	if e := C.pi_semget(C.int(key), C.int(nsems), C.int(flag), &id); e != 0 {
		return -1, errnoErr(e)
	}
	return int(id), nil
}

// SemctlStat wraps semctl(id, 0, IPC_STAT).
func SemctlStat(id int) (SemStat, error) {
	var s C.struct_pi_sem_stat
	if e := C.pi_semctl_stat(C.int(id), &s); e != 0 {
		return SemStat{}, errnoErr(e)
	}
	return SemStat{IPCPerm: ipcPerm(s.perm), NSems: int64(s.nsems), OTime: int64(s.otime), CTime: int64(s.ctime)}, nil
}

// SemctlSet wraps semctl(id, 0, IPC_SET) with the owner and mode.
func SemctlSet(id int, uid, gid, mode int64) error {
	return errnoErr(C.pi_semctl_set(C.int(id), C.int64_t(uid), C.int64_t(gid), C.int64_t(mode)))
}

// SemctlRmid wraps semctl(id, 0, IPC_RMID).
func SemctlRmid(id int) error { return errnoErr(C.pi_semctl_rmid(C.int(id))) }

// SemctlGet wraps semctl(id, num, cmd) for GETVAL, GETPID, GETNCNT, GETZCNT.
func SemctlGet(id, num, cmd int) (int, error) {
	var v C.int
	if e := C.pi_semctl_get(C.int(id), C.int(num), C.int(cmd), &v); e != 0 {
		return 0, errnoErr(e)
	}
	return int(v), nil
}

// SemctlSetval wraps semctl(id, num, SETVAL, v).
func SemctlSetval(id, num, v int) error {
	return errnoErr(C.pi_semctl_setval(C.int(id), C.int(num), C.int(v)))
}

// SemctlGetall wraps semctl(id, 0, GETALL, v): v has one entry per semaphore.
func SemctlGetall(id int, v []uint16) error {
	return errnoErr(C.pi_semctl_getall(C.int(id), (*C.ushort)(unsafe.Pointer(unsafe.SliceData(v)))))
}

// SemctlSetall wraps semctl(id, 0, SETALL, v): v has one entry per semaphore.
func SemctlSetall(id int, v []uint16) error {
	return errnoErr(C.pi_semctl_setall(C.int(id), (*C.ushort)(unsafe.Pointer(unsafe.SliceData(v)))))
}

// Semop wraps semop(2).
func Semop(id int, ops []SemBuf) error {
	return errnoErr(C.pi_semop(C.int(id), sembufs(ops), C.size_t(len(ops))))
}

// SemopWait applies ops atomically (semtimedop), blocking inside C until
// they are applied, relNs nanoseconds pass on CLOCK_MONOTONIC (ETIMEDOUT;
// relNs < 0: no deadline) or w is kicked (ECANCELED): an error means
// nothing changed.
func SemopWait(w Waiter, id int, ops []SemBuf, relNs int64) error {
	return errnoErr(C.pi_semop_wait(w.w, C.int(id), sembufs(ops), C.size_t(len(ops)), C.int64_t(relNs)))
}

func sembufs(ops []SemBuf) *C.struct_sembuf {
	return (*C.struct_sembuf)(unsafe.Pointer(unsafe.SliceData(ops)))
}
