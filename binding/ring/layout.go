//go:build linux && cgo

package ring

// The segment's layout, byte for byte the one crt/posixipc_ring.h
// documents (keep the two in step). All words are native-endian and
// naturally aligned; "u64 @ 128" is a uint64 at byte offset 128.

import (
	"fmt"
	"syscall"
)

const (
	// Magic is the first word of a ready ring ("PIRING" 0 1, little-endian);
	// the creator writes it last.
	Magic uint64 = 0x0100474E49524950
	// Version is the layout version this package reads and writes.
	Version = 3

	// The header: static fields, then one cache line per hot word group.
	offMagic    = 0   // u64
	offVersion  = 8   // u32
	offMode     = 12  // u32: Queue or Broadcast
	offFull     = 16  // u32: Block, Fail or Overwrite
	offSize     = 20  // u32: payload bytes of a slot
	offSlots    = 24  // u32: slot count, a power of two
	offStride   = 28  // u32: bytes from one slot to the next
	offParts    = 32  // u32: entries in the participant table
	offHdrSize  = 36  // u32: offset of the first slot
	offTag      = 40  // u64: the caller's type tag
	offTotal    = 48  // u64: bytes the layout needs
	offNonce    = 56  // u64: random, names this ring (Open checks its descriptor with it)
	offProducer = 64  // u32: broadcast, SPSC: entry+1 of the producer, 0 none
	offSubGen   = 68  // u32: broadcast: bumped when a subscriber joins or leaves
	offConsumer = 72  // u32: SPSC: entry+1 of the consumer, 0 none
	offTail     = 128 // u64: next position to produce (Queue: a hint; SPSC: exact)
	offHead     = 192 // u64: queue: next position to consume
	offDataWord = 256 // u32: futex word of consumers (bumped by commits that see sleepers)
	offDataWait = 260 // u32: consumers asleep on it
	offRoomWord = 320 // u32: futex word of producers (bumped by releases that see sleepers)
	offRoomWait = 324 // u32: producers asleep on it
	offReclaim  = 384 // u64: slots reclaimed from dead participants
	offEntries  = 512 // the participant table

	// A participant entry (one cache line).
	entrySize  = 64
	entState   = 0  // u32: 0 free, 1 used
	entPid     = 4  // u32: the process (in its creator's pid namespace)
	entRole    = 8  // u32: roleProducer | roleConsumer
	entWaiting = 12 // u32: waitData | waitRoom: counted in a waiter count
	entCursor  = 16 // u64: broadcast: next position to read
	// 24 and 32: reserved (zero; version 1 kept its intents there)
	entLost      = 40 // u64: broadcast: records this subscriber lost
	entCount     = 48 // u64: records this participant committed or released
	roleProducer = 1
	roleConsumer = 2
	waitData     = 1
	waitRoom     = 2

	// A slot: a header line, then the payload.
	slotHeader = 64
	slotSeq    = 0  // u64: queue: Vyukov sequence; broadcast: 2*pos+1 writing, 2*pos+2 committed
	slotClaim  = 8  // u64: queue: uint32(pos)<<32 | who (SPSC: the consumer's; a producer's loan is the tail passing pos)
	slotLen    = 16 // u32: payload bytes committed
	slotFlags  = 20 // u32: flagSkip
	flagSkip   = 1  // a reclaimed slot: no record, consumers pass it

	// who in a claim: entry+1, with whoConsumer for a consumer's claim;
	// whoDead marks a claim taken over from a dead participant.
	whoConsumer = 1 << 31
	whoDead     = 1<<31 - 1

	// Bounds.
	MaxSlots        = 1 << 24
	MaxSize         = 1 << 30
	MaxParticipants = 4096
	maxTotal        = 1 << 40
	// DefaultParticipants is the table size when Config.Participants is 0.
	DefaultParticipants = 64
)

func align64(n uint64) uint64 { return (n + 63) &^ 63 }

// geometry is the validated shape of a ring, from a Config or a header.
type geometry struct {
	mode, full  uint32
	size, slots uint32
	stride      uint32
	parts       uint32
	hdrSize     uint32
	total       uint64
	tag         uint64
	mask        uint64
	slotsOff    uint64
	excl        bool // SPSC: one producer, one consumer
}

// shape computes and checks the geometry of a configuration.
func shape(mode Mode, full Full, slots, size, parts int, tag uint64) (geometry, error) {
	var g geometry
	switch mode {
	case Queue, Broadcast, SPSC:
	default:
		return g, fmt.Errorf("mode %d is not Queue, Broadcast or SPSC: %w", mode, syscall.EINVAL)
	}
	switch full {
	case Block, Fail:
	case Overwrite:
		if mode != Broadcast {
			return g, fmt.Errorf("the Overwrite policy needs Broadcast mode (a queue's records are each consumed once): %w", syscall.EINVAL)
		}
	default:
		return g, fmt.Errorf("full policy %d is not Block, Fail or Overwrite: %w", full, syscall.EINVAL)
	}
	if slots < 2 || slots > MaxSlots || slots&(slots-1) != 0 {
		return g, fmt.Errorf("slot count %d is not a power of two from 2 to %d: %w", slots, MaxSlots, syscall.EINVAL)
	}
	if size < 1 || size > MaxSize {
		return g, fmt.Errorf("slot size %d is not from 1 to %d bytes: %w", size, MaxSize, syscall.EINVAL)
	}
	if parts == 0 {
		parts = DefaultParticipants
	}
	if parts < 2 || parts > MaxParticipants {
		return g, fmt.Errorf("participant count %d is not from 2 to %d: %w", parts, MaxParticipants, syscall.EINVAL)
	}
	g = geometry{mode: uint32(mode), full: uint32(full), size: uint32(size), slots: uint32(slots), parts: uint32(parts), tag: tag}
	g.stride = uint32(slotHeader + align64(uint64(size)))
	g.hdrSize = uint32(align64(offEntries + uint64(parts)*entrySize))
	g.total = uint64(g.hdrSize) + uint64(g.slots)*uint64(g.stride)
	if g.total > maxTotal {
		return g, fmt.Errorf("%d slots of %d bytes need %d bytes, more than %d: %w", slots, size, g.total, uint64(maxTotal), syscall.EINVAL)
	}
	g.mask = uint64(g.slots) - 1
	g.excl = mode == SPSC
	g.slotsOff = uint64(g.hdrSize)
	return g, nil
}
