/*
 * proto.h — the sfexec wire protocol, written down once.
 *
 * A flight is served by one runner process listening on DIR/<hash>.sock
 * (a SOCK_STREAM Unix socket).  Every invocation, the one that started the
 * flight included, is a client of that runner.
 *
 * Framing.  Every message is a frame:
 *
 *     offset 0  u8   type         one of enum sf_msg_type
 *     offset 1  u8   reserved     must be 0
 *     offset 2  u16  length       payload bytes, big endian, <= SF_PROTO_MAX_PAYLOAD
 *     offset 4  ...  payload      layout fixed per type (below); integers big endian
 *
 * Conversation.
 *
 *   client -> runner   HELLO    u16 version, u16 flags, u8 digest[32]
 *                               digest is the SHA-256 of the key (key.h); the
 *                               runner refuses a digest that is not its own, so a
 *                               collision of the 128-bit file name cannot merge
 *                               two keys.  flags: SF_HELLO_ORDER asks for the
 *                               order index (below); a runner refuses any other
 *                               bit (SF_REFUSE_VERSION), so that a later
 *                               version can give them a meaning.  A client from
 *                               the runner's own session (the command or its
 *                               descendants) is refused (SF_REFUSE_NESTED).
 *                               After HELLO the client sends nothing
 *                               more but the CACHE frame it announced: any other
 *                               byte it sends later, or a frame that does
 *                               not decode, gets it dropped.
 *                               HELLO's layout is the same in every version, so
 *                               a client of another version always gets a clean
 *                               REFUSE (SF_REFUSE_VERSION), never a misreading.
 *   runner -> client   WELCOME  u16 version, u16 flags, u32 runner pid,
 *                               u32 starter pid, u32 command process group
 *                               (0: none on this host, fleet.h), then
 *                               0..SF_PROTO_MAX_NAME bytes of a notice the
 *                               invocation prints (--redis-optional: Redis
 *                               could not be reached, the flight is this
 *                               host's only); with SF_WELCOME_VERBOSE, only
 *                               under -v (the host whose flight this one
 *                               follows).
 *                  or  REFUSE   u8 reason (enum sf_refuse), then the runner closes.
 *   client -> runner   CACHE    u64 keep_ms, u8 flags, with exactly one
 *                               descriptor in SCM_RIGHTS on its first byte: a
 *                               cache directory (cache.h).  Only after WELCOME,
 *                               and only when HELLO said SF_HELLO_CACHE: "store
 *                               the flight's result there if it exits 0 (any
 *                               status with SF_CACHE_FAILURES; no other flag
 *                               bit may be set), for keep_ms after its end".
 *                               The runner sends such a client EXIT only after
 *                               its CACHE, and stores the result before it
 *                               sends EXIT, so the client can count on the
 *                               entry being there.  Not sent within the HELLO
 *                               timeout: the client is dropped.
 *   runner -> client   SPOOL    u8 stream (enum sf_stream), with exactly one
 *                               descriptor in SCM_RIGHTS on its first byte: the
 *                               stream's spool, read-only.  Sent once per stream,
 *                               before its first DATA; a stream that stays silent
 *                               has no spool (spools are made on the first byte).
 *                               SF_ORDER goes only to a client that asked for it.
 *   runner -> client   DATA     u8 stream (enum sf_stream), u64 end
 *                               "the spool of this stream holds bytes [0, end)".
 *                               Ends only grow; those of SF_ORDER are whole
 *                               records (a multiple of SF_ORDER_RECORD).
 *                               Announcements coalesce: a client
 *                               that reads slowly sees fewer, larger steps, so the
 *                               runner's memory per client is constant.  When
 *                               several streams grew, SF_ORDER's DATA comes
 *                               first, so a record is known before the bytes
 *                               that follow it are announced.
 *   runner -> client   NOTE     u8 what (enum sf_note), u8 signal
 *                               the command's leader was stopped by signal
 *                               (SF_NOTE_STOPPED; SIGTSTP, SIGSTOP, SIGTTIN or
 *                               SIGTTOU), or continued (SF_NOTE_CONTINUED,
 *                               signal 0).  Sent between WELCOME and EXIT, to
 *                               every client, and to a joiner that arrives while
 *                               the command is stopped; a client that reads
 *                               slowly may see only the latest state.
 *   runner -> client   EXIT     u8 how (enum sf_end), i32 code, i32 err,
 *                               u64 stdout size, u64 stderr size,
 *                               u64 order index size,
 *                               then 0..SF_PROTO_MAX_NAME bytes of a name
 *                               (the command for SF_END_EXEC_FAILED, the step
 *                               that failed for SF_END_FAILED, the whole
 *                               line for SF_END_FLEET and SF_END_BUSY).
 *                               The sizes are final; the client hangs up after
 *                               it (the runner waits a while for that, so that
 *                               it, not the client, frees the spools).
 *
 * The order index.  The command's stdout and stderr are two pipes; the runner
 * reads them in turn, and every time it reads the other stream than the one
 * it read last, it appends a record to a third spool, the order index:
 *
 *     u64 big endian   stream << 62 | end      (SF_ORDER_RECORD bytes)
 *
 * "the run of this stream's bytes that went on until offset end is over;
 * the other stream's bytes come next".  The first run is the stream that
 * has bytes before any record; the last run (the open one) is the other
 * stream of the last record, up to its current size.  A record is appended
 * after the bytes it ends are in their spool and before the runner
 * announces the bytes of the run that follows it, so a client that takes
 * frames in order can replay both streams as one, live, and a joiner can do
 * it from byte 0 however late it comes.  The index is made on the first
 * switch: a flight that writes one stream only has none.  Its order is the
 * order in which the runner read the pipes, which is the command's as far as
 * the runner kept up: writes to both pipes that land while the runner is
 * away are read one pipe after the other.
 *
 * Control connections (sfexec --list, --forget, --cancel).  A client that
 * only asks about the flight or steers it says HELLO with SF_HELLO_CONTROL
 * (and no other flag), then at once one request; it is never welcomed,
 * never counts as attached (so it neither keeps a flight alive nor is told
 * its output), and gets one answer, after which the runner closes:
 *
 *   client -> runner   QUERY    (no payload): "what are you doing?"
 *                               Any digest will do: --list does not know
 *                               the keys it finds.
 *   runner -> client   STATUS   u8 state (enum sf_flight_state),
 *                               u8 flags (SF_STATUS_*),
 *                               u32 runner pid (in the runner's own PID
 *                               namespace; a client learns it in its own
 *                               from the kernel, SO_PASSCRED),
 *                               u32 invocations attached,
 *                               i64 started, i64 ended (CLOCK_REALTIME
 *                               nanoseconds; ended 0 until the end),
 *                               u64 stdout size, u64 stderr size,
 *                               u8 how (enum sf_end; 0 until the end),
 *                               i32 code (EXIT's),
 *                               u16 key length, the key's bytes (0 and none
 *                               for a key derived from the command,
 *                               SF_STATUS_DERIVED; 1..SF_PROTO_MAX_KEY else),
 *                               u16 argv length, the command's arguments,
 *                               each NUL-terminated, at most
 *                               SF_PROTO_MAX_ARGV bytes in all
 *                               (SF_STATUS_ARGV_CUT: the last one was cut;
 *                               see sf_proto_pack_argv).
 *                               The one frame longer than
 *                               SF_PROTO_MAX_FRAME: up to SF_PROTO_MAX_BIG.
 *   client -> runner   FORGET   (no payload), the digest in HELLO the key's:
 *                               stop taking joiners and let the key go,
 *                               running on for those attached (Go's Forget).
 *   client -> runner   CANCEL   u32 grace_ms, the digest the key's: SIGTERM
 *                               to the command's process group now, SIGKILL
 *                               grace_ms later; no joiners meanwhile, and the
 *                               result is not stored.
 *   runner -> client   DONE     u8 done: 1 it was done, 0 there was nothing
 *                               to do (the flight had ended, or was already
 *                               forgotten or cancelled).
 *
 *   A FORGET or CANCEL whose HELLO digest is not the runner's key gets
 *   REFUSE (SF_REFUSE_KEY).  A runner that has stopped taking joiners keeps
 *   answering control connections until it exits: the socket is renamed
 *   from H.sock to H.<inode>.ctl (runner.c), which no joiner connects to.
 *
 * Versions.  2 added HELLO's SF_HELLO_ORDER, the SF_ORDER stream in SPOOL
 * and DATA, NOTE, and EXIT's order index size (8 bytes longer than in 1).
 * 3 added HELLO's SF_HELLO_CACHE and CACHE.  4 added SF_HELLO_CONTROL,
 * QUERY, STATUS, FORGET, CANCEL and DONE.  5 added WELCOME's notice and
 * flags, SF_END_FLEET and SF_END_BUSY.
 * Peers of different versions never get past HELLO, so no other frame of
 * one is ever read by the other.
 *
 * What ends a flight: the command has been reaped and both of its output pipes
 * are at end of file.  The runner then sends EXIT to everyone attached, stops
 * taking joiners (it renames the socket to H.<inode>.ctl, for control
 * clients only, and serves what already queued) and releases the key's
 * lock, which it has held since the starter's election, so the next
 * invocation starts a new flight.  It exits, closing the listening socket
 * and removing its name, once every client has hung up after its EXIT.  A
 * client that sees the connection end before WELCOME retries from the start
 * (it raced with the end of a flight); one that sees it end after WELCOME
 * but before EXIT knows the runner died.
 *
 * When every client has left before the end, the flight is abandoned: the
 * socket is renamed at once, joiners that queued are closed without
 * WELCOME, and the key's lock stays held until the command's process group
 * is gone.
 *
 * The decoder below is the only code that parses bytes from a peer.
 */
#ifndef SF_PROTO_H
#define SF_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SF_PROTO_VERSION      5
#define SF_PROTO_HEADER       4
#define SF_PROTO_MAX_NAME     255
#define SF_PROTO_MAX_PAYLOAD  (33 + SF_PROTO_MAX_NAME)
#define SF_PROTO_MAX_FRAME    (SF_PROTO_HEADER + SF_PROTO_MAX_PAYLOAD)
#define SF_PROTO_MAX_KEY      4096    /* a key's bytes (key.h SF_KEY_MAX) */
#define SF_PROTO_MAX_ARGV     4096    /* STATUS's packed arguments */
#define SF_PROTO_STATUS_FIXED 51      /* STATUS's payload before key, argv */
#define SF_PROTO_MAX_BIG      (SF_PROTO_HEADER + SF_PROTO_STATUS_FIXED + \
                               SF_PROTO_MAX_KEY + SF_PROTO_MAX_ARGV)
#define SF_DIGEST_LEN         32
#define SF_ORDER_RECORD       8

/* HELLO's flags. */
#define SF_HELLO_ORDER        0x0001  /* send me SF_ORDER's SPOOL and DATA */
#define SF_HELLO_CACHE        0x0002  /* a CACHE frame follows WELCOME */
#define SF_HELLO_CONTROL      0x0004  /* a control request follows HELLO */

/* WELCOME's flags. */
#define SF_WELCOME_VERBOSE    0x0001  /* the notice is for -v only */

/* STATUS's flags. */
#define SF_STATUS_DERIVED     0x01    /* the key was derived from the command */
#define SF_STATUS_ARGV_CUT    0x02    /* the arguments did not all fit */
#define SF_STATUS_ENDED       0x04    /* how, code and ended are set */

/* CACHE's flags. */
#define SF_CACHE_FAILURES     0x01    /* store a non-zero exit status too */

enum sf_msg_type {
	SF_MSG_HELLO   = 'H',
	SF_MSG_WELCOME = 'W',
	SF_MSG_REFUSE  = 'R',
	SF_MSG_SPOOL   = 'S',
	SF_MSG_DATA    = 'D',
	SF_MSG_NOTE    = 'N',
	SF_MSG_EXIT    = 'X',
	SF_MSG_CACHE   = 'C',
	SF_MSG_QUERY   = 'Q',
	SF_MSG_STATUS  = 'T',
	SF_MSG_FORGET  = 'F',
	SF_MSG_CANCEL  = 'K',
	SF_MSG_DONE    = 'O',
};

/* What a flight is doing, as STATUS says; values are wire format. */
enum sf_flight_state {
	SF_STATE_RUNNING    = 1,  /* the command runs; joiners are welcome */
	SF_STATE_STOPPING   = 2,  /* ended (slow readers drain it) or abandoned
	                             (the command is being stopped) */
	SF_STATE_REFRESHING = 3,  /* a background refresh (stale-while-revalidate) */
	SF_STATE_FORGOTTEN  = 4,  /* forgotten or cancelled: runs on for those
	                             attached, takes no joiners */
};

enum sf_refuse {
	SF_REFUSE_VERSION = 1,  /* the runner speaks another protocol version */
	SF_REFUSE_KEY     = 2,  /* file names collided but the keys differ */
	SF_REFUSE_NESTED  = 3,  /* the client runs inside this very flight */
};

/* How a flight ended; carried by EXIT.  Values are wire format. */
enum sf_end {
	SF_END_EXITED      = 1, /* code: exit status */
	SF_END_SIGNALED    = 2, /* code: signal number */
	SF_END_EXEC_FAILED = 3, /* err: execvp's errno; name: the command */
	SF_END_FAILED      = 4, /* the runner failed; err: errno; name: what */
	SF_END_FLEET       = 5, /* the flight across hosts failed (fleet.h);
	                           name: the whole line saying why */
	SF_END_BUSY        = 6, /* -n: another host runs a flight of the key;
	                           name: the whole line saying which */
};

enum sf_stream { SF_STDOUT = 1, SF_STDERR = 2, SF_ORDER = 3 };

/* What NOTE says; values are wire format. */
enum sf_note {
	SF_NOTE_STOPPED   = 1,  /* signal: the one that stopped the command */
	SF_NOTE_CONTINUED = 2,  /* signal: 0 */
};

struct sf_msg {
	enum sf_msg_type type;
	union {
		struct { uint16_t version, flags; uint8_t digest[SF_DIGEST_LEN]; } hello;
		struct {
			uint16_t version, flags;
			uint32_t runner, starter, pgid;
			uint8_t noticelen;
			char notice[SF_PROTO_MAX_NAME + 1]; /* NUL-terminated copy */
		} welcome;
		struct { uint8_t reason; } refuse;
		struct { uint8_t stream; } spool;
		struct { uint8_t stream; uint64_t end; } data;
		struct { uint8_t what, sig; } note;
		struct { uint64_t keep_ms; uint8_t flags; } cache;
		struct { uint32_t grace_ms; } cancel;
		struct { uint8_t done; } done;
		struct {
			uint8_t state, flags, how;
			uint32_t runner, invocations;
			int32_t code;
			int64_t started_ns, ended_ns;
			uint64_t size[2];           /* stdout, stderr */
			uint16_t keylen, argvlen;
			/* Point into the decoded buffer (or the encoder's
			 * caller's memory); not NUL-terminated. */
			const uint8_t *key, *argv;
		} status;
		struct {
			uint8_t how;
			int32_t code, err;
			uint64_t size[3];           /* stdout, stderr, order index */
			uint8_t namelen;
			char name[SF_PROTO_MAX_NAME + 1]; /* NUL-terminated copy */
		} exit;
	} u;
};

/*
 * sf_proto_encode — write m as one frame into buf (at least SF_PROTO_MAX_FRAME
 * bytes; for STATUS, at least the frame's length, SF_PROTO_MAX_BIG will
 * always do).  Returns the frame length, or -1 with errno EINVAL for a
 * message that the decoder would refuse, or a buf too small.
 */
int sf_proto_encode(const struct sf_msg *m, uint8_t *buf, size_t size);

/*
 * sf_proto_decode — parse one frame from the first len bytes of buf.
 * Returns the frame's length (> 0) and fills *m; 0 when buf holds only part of
 * a frame; -1 with errno EPROTO when the bytes can never become a valid frame
 * (unknown type, reserved bits, a length above the maximum or wrong for the
 * type, an out-of-range field).  Never reads beyond buf[len - 1].
 */
int sf_proto_decode(const uint8_t *buf, size_t len, struct sf_msg *m);

/*
 * sf_proto_pack_argv — the arguments argv[0 ..] (NULL-terminated) as STATUS
 * and cache entries (cache.h) carry them: each argument's bytes and a NUL,
 * back to back, into out (cap bytes, at most SF_PROTO_MAX_ARGV).  An
 * argument that does not fit whole is cut to fit with its NUL, *cut is
 * set, and the rest are left out.  Returns the length.
 */
size_t sf_proto_pack_argv(char *const argv[], uint8_t *out, size_t cap,
    int *cut);

/*
 * sf_proto_order_put — write the order index record "stream's run ended at
 * end" (stream SF_STDOUT or SF_STDERR, end < 2^62) into rec.
 * sf_proto_order_get — parse one record: 0 and *stream, *end filled, or -1
 * with errno EPROTO when its stream bits are neither.
 */
void sf_proto_order_put(uint8_t rec[SF_ORDER_RECORD], int stream, uint64_t end);
int sf_proto_order_get(const uint8_t rec[SF_ORDER_RECORD], int *stream,
    uint64_t *end);

#endif
