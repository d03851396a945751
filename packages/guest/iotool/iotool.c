// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iotool: precise, self-checking I/O load for the iohang test guest.
 *
 *   iotool write   <path> --bs N --count N [--offset BYTES] --gen G [--direct]
 *                         [--fsync-every K] [--interval-ms M] [--keep-going]
 *   iotool verify  <path> --bs N --count N [--offset BYTES] --gen G [--direct] [--keep-going]
 *   iotool read    <path> --bs N --count N [--offset BYTES] [--direct] [--interval-ms M] [--keep-going]
 *   iotool discard <path> --offset BYTES --length BYTES
 *   iotool scsi-reset <device> device|bus|host
 *       (the SG_SCSI_RESET ioctl: the reset a SCSI error handler escalates through; prints
 *       {"reset":"...","errno":E} and exits 0 if the kernel did it)
 *
 * Every written block is self-describing, so a verify after a hang tells apart data that
 * never reached the disk (bad_magic: zeros or foreign data), a torn or corrupted block
 * (bad_checksum), a block written to the wrong place (bad_block) and an older write that
 * was acknowledged but then lost (wrong_gen):
 *
 *   bytes  0..7   magic "IOHGBLK1"
 *   bytes  8..15  block number = absolute byte offset / bs
 *   bytes 16..23  generation G
 *   bytes 24..31  FNV-1a 64 of every other byte of the block
 *   bytes 32..    pseudo-random pattern seeded from (block, generation)
 *
 * All integers are little-endian (native on x86_64). The result is one JSON object on
 * stdout with a per-request timeline; exit code 0 = no errors, 1 = errors (JSON still
 * printed), 2 = usage error (message on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <scsi/sg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x314b4c4247484f49ULL /* "IOHGBLK1" read as a little-endian u64 */
#define HDR_SIZE 32
#define MAX_MISMATCHES 16 /* details kept for the first few bad blocks; counters cover all */

enum op { OP_WRITE, OP_VERIFY, OP_READ, OP_DISCARD };
static const char *const op_names[] = { "write", "verify", "read", "discard" };

struct opts {
	enum op op;
	const char *path;
	uint64_t bs, count, offset, gen, length, fsync_every, interval_ms;
	bool has_bs, has_count, has_offset, has_gen, has_length, direct, keep_going;
};

/* One request: a write, read, fsync or discard. */
struct event {
	const char *op;
	uint64_t i;
	double t_ms;
	uint64_t lat_us;
	bool ok;
};

struct failure {
	const char *op;
	uint64_t index, offset;
	int err; /* errno; 0 for a short transfer */
	char msg[80];
	double t_ms;
};

struct mismatch {
	const char *kind;
	uint64_t index, offset, found_block, found_gen;
};

/* What a run produced; printed as JSON at the end. */
static struct {
	struct event *events;
	size_t n_events, cap_events;
	struct failure *failures;
	size_t n_failures, cap_failures;
	struct mismatch mismatches[MAX_MISMATCHES];
	size_t n_mismatches;
	uint64_t done, blocks_ok, wrong_gen, bad_checksum, bad_block, bad_magic, read_errors;
	const char *method; /* discard: blkdiscard or punch_hole */
} res;

static uint64_t t0_ns;
static uint64_t t0_unix_ms; /* the guest's wall clock at start, to line up with the host */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ULL + (uint64_t)ts.tv_nsec / 1000000ULL;
}

static double ms_since_start(uint64_t ns)
{
	return (double)(ns - t0_ns) / 1e6;
}

static void *grow(void *array, size_t *cap, size_t size)
{
	*cap = *cap ? *cap * 2 : 256;
	void *p = realloc(array, *cap * size);
	if (!p) {
		perror("iotool: realloc");
		exit(3);
	}
	return p;
}

static void add_event(const char *op, uint64_t i, uint64_t start_ns, uint64_t end_ns, bool ok)
{
	if (res.n_events == res.cap_events)
		res.events = grow(res.events, &res.cap_events, sizeof(*res.events));
	res.events[res.n_events++] = (struct event){ op, i, ms_since_start(start_ns), (end_ns - start_ns) / 1000, ok };
}

/* ret is what pwrite/pread/fsync returned; errno is read only when ret < 0. */
static void add_failure(const char *op, uint64_t index, uint64_t offset, ssize_t ret, uint64_t want, uint64_t at_ns)
{
	if (res.n_failures == res.cap_failures)
		res.failures = grow(res.failures, &res.cap_failures, sizeof(*res.failures));
	struct failure *f = &res.failures[res.n_failures++];
	*f = (struct failure){ .op = op, .index = index, .offset = offset, .t_ms = ms_since_start(at_ns) };
	if (ret < 0) {
		f->err = errno;
		snprintf(f->msg, sizeof(f->msg), "%s", strerror(errno));
	} else {
		snprintf(f->msg, sizeof(f->msg), "short %s: %zd of %" PRIu64 " bytes", op, ret, want);
	}
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- block format ---- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Checksum of everything but the checksum field itself. */
static uint64_t block_checksum(const unsigned char *buf, uint64_t bs)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, buf, 24);
	return fnv1a(h, buf + HDR_SIZE, bs - HDR_SIZE);
}

static void fill_block(unsigned char *buf, uint64_t bs, uint64_t block, uint64_t gen)
{
	uint64_t *w = (uint64_t *)buf;
	uint64_t seed = block * 0x100000001b3ULL ^ gen * 0xc2b2ae3d27d4eb4fULL;
	w[0] = MAGIC;
	w[1] = block;
	w[2] = gen;
	for (uint64_t k = HDR_SIZE / 8; k < bs / 8; k++)
		w[k] = splitmix64(&seed);
	w[3] = block_checksum(buf, bs);
}

/* Classify one block read back; returns the counter to bump. */
static const char *check_block(const unsigned char *buf, uint64_t bs, uint64_t block, uint64_t gen)
{
	const uint64_t *w = (const uint64_t *)buf;
	if (w[0] != MAGIC)
		return "bad_magic";
	if (w[3] != block_checksum(buf, bs))
		return "bad_checksum";
	if (w[1] != block)
		return "bad_block";
	if (w[2] != gen)
		return "wrong_gen";
	return "ok";
}

static void count_mismatch(const char *kind, uint64_t i, uint64_t off, const unsigned char *buf)
{
	if (strcmp(kind, "bad_magic") == 0)
		res.bad_magic++;
	else if (strcmp(kind, "bad_checksum") == 0)
		res.bad_checksum++;
	else if (strcmp(kind, "bad_block") == 0)
		res.bad_block++;
	else
		res.wrong_gen++;
	if (res.n_mismatches < MAX_MISMATCHES) {
		const uint64_t *w = (const uint64_t *)buf;
		res.mismatches[res.n_mismatches++] = (struct mismatch){ kind, i, off, w[1], w[2] };
	}
}

/* ---- operations ---- */

static int open_target(const struct opts *o)
{
	int flags = o->op == OP_WRITE ? O_WRONLY | O_CREAT : o->op == OP_DISCARD ? O_WRONLY : O_RDONLY;
	if (o->direct)
		flags |= O_DIRECT;
	int fd = open(o->path, flags | O_CLOEXEC, 0644);
	if (fd < 0)
		add_failure("open", 0, o->offset, -1, 0, now_ns());
	return fd;
}

static unsigned char *alloc_block(uint64_t bs)
{
	void *buf = NULL;
	/* O_DIRECT wants the buffer aligned to the logical block size; 4096 covers every disk. */
	int err = posix_memalign(&buf, 4096, bs);
	if (err) {
		fprintf(stderr, "iotool: cannot allocate %" PRIu64 " bytes: %s\n", bs, strerror(err));
		exit(3);
	}
	memset(buf, 0, bs);
	return buf;
}

/* fsync after write number i; false if it failed. */
static bool do_fsync(int fd, uint64_t i, uint64_t off)
{
	uint64_t start = now_ns();
	int r = fsync(fd);
	uint64_t end = now_ns();
	add_event("fsync", i, start, end, r == 0);
	if (r != 0)
		add_failure("fsync", i, off, -1, 0, end);
	return r == 0;
}

static void run_write(const struct opts *o, int fd)
{
	unsigned char *buf = alloc_block(o->bs);
	uint64_t unsynced = 0;
	bool stopped = false;
	for (uint64_t i = 0; i < o->count && !stopped; i++) {
		if (i > 0 && o->interval_ms)
			sleep_ms(o->interval_ms);
		uint64_t off = o->offset + i * o->bs;
		fill_block(buf, o->bs, off / o->bs, o->gen);
		uint64_t start = now_ns();
		ssize_t n = pwrite(fd, buf, o->bs, (off_t)off);
		uint64_t end = now_ns();
		bool ok = n == (ssize_t)o->bs;
		add_event("write", i, start, end, ok);
		if (!ok) {
			add_failure("write", i, off, n, o->bs, end);
			stopped = !o->keep_going;
			continue;
		}
		res.done++;
		if (o->fsync_every && ++unsynced == o->fsync_every) {
			unsynced = 0;
			stopped = !do_fsync(fd, i, off) && !o->keep_going;
		}
	}
	/* A tail shorter than K still gets its fsync, so every acknowledged write is durable. */
	if (o->fsync_every && unsynced && !stopped)
		do_fsync(fd, o->count - 1, o->offset + (o->count - 1) * o->bs);
	free(buf);
}

/* read and verify: the same loop; verify also checks each block. */
static void run_read(const struct opts *o, int fd, bool verify)
{
	unsigned char *buf = alloc_block(o->bs);
	for (uint64_t i = 0; i < o->count; i++) {
		if (i > 0 && o->interval_ms)
			sleep_ms(o->interval_ms);
		uint64_t off = o->offset + i * o->bs;
		uint64_t start = now_ns();
		ssize_t n = pread(fd, buf, o->bs, (off_t)off);
		uint64_t end = now_ns();
		bool ok = n == (ssize_t)o->bs;
		add_event("read", i, start, end, ok);
		if (!ok) {
			res.read_errors++;
			add_failure("read", i, off, n, o->bs, end);
			if (!o->keep_going)
				break;
			continue;
		}
		res.done++;
		if (!verify)
			continue;
		const char *kind = check_block(buf, o->bs, off / o->bs, o->gen);
		if (strcmp(kind, "ok") == 0)
			res.blocks_ok++;
		else
			count_mismatch(kind, i, off, buf);
	}
	free(buf);
}

static void run_discard(const struct opts *o, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		add_failure("discard", 0, o->offset, -1, 0, now_ns());
		return;
	}
	uint64_t start = now_ns();
	int r;
	if (S_ISBLK(st.st_mode)) {
		uint64_t range[2] = { o->offset, o->length };
		res.method = "blkdiscard";
		r = ioctl(fd, BLKDISCARD, range);
	} else {
		res.method = "punch_hole";
		r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)o->offset, (off_t)o->length);
	}
	uint64_t end = now_ns();
	add_event("discard", 0, start, end, r == 0);
	if (r != 0)
		add_failure("discard", 0, o->offset, -1, 0, end);
	else
		res.done = 1;
}

/* ---- JSON output ---- */

static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static bool run_ok(const struct opts *o)
{
	if (res.n_failures)
		return false;
	return o->op != OP_VERIFY || res.blocks_ok == o->count;
}

static void print_json(const struct opts *o, double elapsed_ms)
{
	printf("{\"op\":\"%s\",\"start_unix_ms\":%" PRIu64 ",\"path\":", op_names[o->op], t0_unix_ms);
	json_string(o->path);
	if (o->op == OP_DISCARD) {
		printf(",\"offset\":%" PRIu64 ",\"length\":%" PRIu64 ",\"method\":", o->offset, o->length);
		json_string(res.method ? res.method : "");
	} else {
		printf(",\"bs\":%" PRIu64 ",\"count\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"direct\":%s", o->bs, o->count,
		       o->offset, o->direct ? "true" : "false");
		if (o->has_gen)
			printf(",\"gen\":%" PRIu64, o->gen);
	}
	printf(",\"done\":%" PRIu64 ",\"errors\":[", res.done);
	for (size_t k = 0; k < res.n_failures; k++) {
		const struct failure *f = &res.failures[k];
		printf("%s{\"op\":\"%s\",\"index\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"errno\":%d,\"error\":", k ? "," : "",
		       f->op, f->index, f->offset, f->err);
		json_string(f->msg);
		printf(",\"t_ms\":%.3f}", f->t_ms);
	}
	printf("],\"ok\":%s,\"elapsed_ms\":%.3f", run_ok(o) ? "true" : "false", elapsed_ms);
	if (o->op == OP_VERIFY) {
		printf(",\"blocks_ok\":%" PRIu64 ",\"wrong_gen\":%" PRIu64 ",\"bad_checksum\":%" PRIu64
		       ",\"bad_block\":%" PRIu64 ",\"bad_magic\":%" PRIu64 ",\"read_errors\":%" PRIu64 ",\"mismatches\":[",
		       res.blocks_ok, res.wrong_gen, res.bad_checksum, res.bad_block, res.bad_magic, res.read_errors);
		for (size_t k = 0; k < res.n_mismatches; k++) {
			const struct mismatch *m = &res.mismatches[k];
			printf("%s{\"kind\":\"%s\",\"index\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"found_block\":%" PRIu64
			       ",\"found_gen\":%" PRIu64 "}",
			       k ? "," : "", m->kind, m->index, m->offset, m->found_block, m->found_gen);
		}
		putchar(']');
	}
	printf(",\"timeline\":[");
	for (size_t k = 0; k < res.n_events; k++) {
		const struct event *e = &res.events[k];
		printf("%s{\"op\":\"%s\",\"i\":%" PRIu64 ",\"t_ms\":%.3f,\"lat_us\":%" PRIu64 ",\"ok\":%s}", k ? "," : "", e->op,
		       e->i, e->t_ms, e->lat_us, e->ok ? "true" : "false");
	}
	printf("]}\n");
}

/* ---- command line ---- */

static void usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "iotool: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nusage:\n"
			"  iotool write   <path> --bs N --count N [--offset BYTES] --gen G [--direct]\n"
			"                        [--fsync-every K] [--interval-ms M] [--keep-going]\n"
			"  iotool verify  <path> --bs N --count N [--offset BYTES] --gen G [--direct] [--keep-going]\n"
			"  iotool read    <path> --bs N --count N [--offset BYTES] [--direct] [--interval-ms M] [--keep-going]\n"
			"  iotool discard <path> --offset BYTES --length BYTES\n"
			"  iotool now     (prints {\"unix_ms\":N}: the guest's wall clock)\n");
	exit(2);
}

static uint64_t parse_u64(const char *name, const char *s)
{
	if (!s)
		usage("%s needs a value", name);
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		usage("not a non-negative integer: %s", s);
	return v;
}

/* Which options each operation accepts, as a string of option letters. */
static bool accepts(enum op op, char letter)
{
	static const char *const allowed[] = {
		[OP_WRITE] = "bcogdfik", [OP_VERIFY] = "bcogdk", [OP_READ] = "bcodik", [OP_DISCARD] = "ol",
	};
	return strchr(allowed[op], letter) != NULL;
}

static struct opts parse_args(int argc, char **argv)
{
	struct opts o = { 0 };
	if (argc < 2)
		usage("%s", "missing operation");
	size_t k;
	for (k = 0; k < sizeof(op_names) / sizeof(op_names[0]); k++)
		if (strcmp(argv[1], op_names[k]) == 0)
			break;
	if (k == sizeof(op_names) / sizeof(op_names[0]))
		usage("unknown operation: %s", argv[1]);
	o.op = (enum op)k;
	if (argc < 3)
		usage("%s", "missing path");
	o.path = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char letter;
		if (strcmp(a, "--bs") == 0) letter = 'b', o.bs = parse_u64(a, v), o.has_bs = true, i++;
		else if (strcmp(a, "--count") == 0) letter = 'c', o.count = parse_u64(a, v), o.has_count = true, i++;
		else if (strcmp(a, "--offset") == 0) letter = 'o', o.offset = parse_u64(a, v), o.has_offset = true, i++;
		else if (strcmp(a, "--gen") == 0) letter = 'g', o.gen = parse_u64(a, v), o.has_gen = true, i++;
		else if (strcmp(a, "--length") == 0) letter = 'l', o.length = parse_u64(a, v), o.has_length = true, i++;
		else if (strcmp(a, "--fsync-every") == 0) letter = 'f', o.fsync_every = parse_u64(a, v), i++;
		else if (strcmp(a, "--interval-ms") == 0) letter = 'i', o.interval_ms = parse_u64(a, v), i++;
		else if (strcmp(a, "--direct") == 0) letter = 'd', o.direct = true;
		else if (strcmp(a, "--keep-going") == 0) letter = 'k', o.keep_going = true;
		else usage("unknown option: %s", a);
		if (!accepts(o.op, letter))
			usage("option %s does not apply to this operation", a);
	}
	if (o.op == OP_DISCARD) {
		if (!o.has_offset || !o.has_length)
			usage("%s", "discard needs --offset and --length");
		return o;
	}
	if (!o.has_bs || !o.has_count)
		usage("%s", "--bs and --count are required");
	if ((o.op == OP_WRITE || o.op == OP_VERIFY) && !o.has_gen)
		usage("%s", "--gen is required");
	if (o.bs < HDR_SIZE || o.bs % 8)
		usage("%s", "--bs must be a multiple of 8 and at least 32");
	if (o.direct && o.bs % 512)
		usage("%s", "--direct needs --bs to be a multiple of 512");
	if (o.offset % o.bs)
		usage("%s", "--offset must be a multiple of --bs (block numbers are offset / bs)");
	return o;
}

/* Ask the kernel's SCSI midlayer for a reset of @dev's device, bus or host. */
static int scsi_reset(const char *dev, const char *what)
{
	static const struct { const char *name; int val; } kinds[] = {
		{ "device", SG_SCSI_RESET_DEVICE },
		{ "bus", SG_SCSI_RESET_BUS }, { "host", SG_SCSI_RESET_HOST },
	};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (strcmp(what, kinds[k].name) != 0)
			continue;
		int fd = open(dev, O_RDONLY | O_NONBLOCK);
		if (fd < 0) {
			fprintf(stderr, "iotool: %s: %s\n", dev, strerror(errno));
			return 2;
		}
		int val = kinds[k].val;
		int err = ioctl(fd, SG_SCSI_RESET, &val) ? errno : 0;
		close(fd);
		printf("{\"reset\":\"%s\",\"errno\":%d}\n", what, err);
		return err ? 1 : 0;
	}
	fprintf(stderr, "iotool: scsi-reset: unknown kind %s (device, bus or host)\n", what);
	return 2;
}

int main(int argc, char **argv)
{
	t0_ns = now_ns();
	t0_unix_ms = unix_ms();
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("{\"unix_ms\":%" PRIu64 "}\n", t0_unix_ms);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "scsi-reset") == 0)
		return scsi_reset(argv[2], argv[3]);
	struct opts o = parse_args(argc, argv);
	int fd = open_target(&o);
	if (fd >= 0) {
		if (o.op == OP_WRITE)
			run_write(&o, fd);
		else if (o.op == OP_DISCARD)
			run_discard(&o, fd);
		else
			run_read(&o, fd, o.op == OP_VERIFY);
		/* Buffered writes without fsync report writeback errors here, if anywhere. */
		if (close(fd) != 0)
			add_failure("close", 0, o.offset, -1, 0, now_ns());
	}
	print_json(&o, ms_since_start(now_ns()));
	return run_ok(&o) ? 0 : 1;
}
