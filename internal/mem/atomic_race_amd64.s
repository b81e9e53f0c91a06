//go:build linux && cgo && race

// The atomics of race builds (see doc.go): ordinary Go assembly functions,
// so a SIGBUS or SIGSEGV inside them is a fault in Go code that
// debug.SetPanicOnFault turns into a panic, where sync/atomic would run on
// the system stack in the race runtime and a fault there kills the
// process.

#include "textflag.h"

// func Load32(p *uint32) uint32
TEXT ·Load32(SB), NOSPLIT, $0-12
	MOVQ p+0(FP), BX
	MOVL (BX), AX
	MOVL AX, ret+8(FP)
	RET

// func Store32(p *uint32, v uint32)
TEXT ·Store32(SB), NOSPLIT, $0-12
	MOVQ p+0(FP), BX
	MOVL v+8(FP), AX
	XCHGL AX, (BX)
	RET

// func Add32(p *uint32, d uint32) uint32
TEXT ·Add32(SB), NOSPLIT, $0-20
	MOVQ p+0(FP), BX
	MOVL d+8(FP), AX
	MOVL AX, CX
	LOCK
	XADDL AX, (BX)
	ADDL CX, AX
	MOVL AX, ret+16(FP)
	RET

// func CAS32(p *uint32, old, new uint32) bool
TEXT ·CAS32(SB), NOSPLIT, $0-17
	MOVQ p+0(FP), BX
	MOVL old+8(FP), AX
	MOVL new+12(FP), CX
	LOCK
	CMPXCHGL CX, (BX)
	SETEQ ret+16(FP)
	RET

// func Load64(p *uint64) uint64
TEXT ·Load64(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), BX
	MOVQ (BX), AX
	MOVQ AX, ret+8(FP)
	RET

// func Store64(p *uint64, v uint64)
TEXT ·Store64(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), BX
	MOVQ v+8(FP), AX
	XCHGQ AX, (BX)
	RET

// func Add64(p *uint64, d uint64) uint64
TEXT ·Add64(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), BX
	MOVQ d+8(FP), AX
	MOVQ AX, CX
	LOCK
	XADDQ AX, (BX)
	ADDQ CX, AX
	MOVQ AX, ret+16(FP)
	RET

// func CAS64(p *uint64, old, new uint64) bool
TEXT ·CAS64(SB), NOSPLIT, $0-25
	MOVQ p+0(FP), BX
	MOVQ old+8(FP), AX
	MOVQ new+16(FP), CX
	LOCK
	CMPXCHGQ CX, (BX)
	SETEQ ret+24(FP)
	RET

// func Set32(p *uint32, v uint32)
TEXT ·Set32(SB), NOSPLIT, $0-12
	MOVQ p+0(FP), BX
	MOVL v+8(FP), AX
	MOVL AX, (BX)
	RET

// func Set64(p *uint64, v uint64)
TEXT ·Set64(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), BX
	MOVQ v+8(FP), AX
	MOVQ AX, (BX)
	RET
