/*
 * xsload: the benchmark's load generator in C, for the sequential-client
 * scenario: clients that keep ONE request in flight each, as libxenstore
 * does, driven from one thread with epoll so that the generator costs little
 * next to the daemon it measures (a Node generator saturates its core first
 * on this pattern). Paths come from the caller (bench/src/keys.ts).
 *
 *   xsload SOCKET wr N                       N connections, each WRITE (a new value each time) then READ of its own key
 *   xsload SOCKET counter N KEY              read-modify-write of KEY in transactions, retry on EAGAIN
 *   xsload SOCKET vmstart N BASE SHARED DEV  START, READ each SHARED key, WRITE each DEV key under
 *                                            /local/domain/<BASE+i>/device/, END; retry on EAGAIN
 *   xsload SOCKET watch N ROOT               N watchers of ROOT, one writer writing ROOT/k<seq>
 *
 * SHARED and DEV are comma-separated. After connecting (and watching) it
 * prints "ready"; then reads "go DELAY_MS DURATION_MS" on stdin, runs load
 * at once, counts what completes in [now+DELAY, now+DELAY+DURATION), and
 * prints one JSON line: counters and a latency histogram in the buckets of
 * bench/src/stats.ts (sparse [bucket, count] pairs), then exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { READ = 2, WATCH = 4, START = 6, END = 7, WRITE = 11, ERROR = 16, EVENT = 15 };
struct hdr { uint32_t type, req, tx, len; };

/* The histogram of bench/src/stats.ts: 64 sub-buckets per power of two of nanoseconds. */
#define SUB_BITS 6
#define SUB (1 << SUB_BITS)
#define LINEAR (2 * SUB)
#define OCTAVES (40 - (SUB_BITS + 1))
#define BUCKETS (LINEAR + OCTAVES * SUB)
static double hist[BUCKETS], hsum, hmin = INFINITY, hmax, hcount;
static int bucket(double ns) {
  if (ns < LINEAR) return ns < 0 ? 0 : (int)ns;
  int e = (int)floor(log2(ns));
  int octave = e - (SUB_BITS + 1);
  if (octave >= OCTAVES) return BUCKETS - 1;
  int sub = (int)floor(ns / ldexp(1, e - SUB_BITS)) - SUB;
  if (sub < 0) sub = 0;
  if (sub > SUB - 1) sub = SUB - 1;
  return LINEAR + octave * SUB + sub;
}
static void record(double ns) {
  hist[bucket(ns)] += 1;
  hcount++;
  hsum += ns;
  if (ns < hmin) hmin = ns;
  if (ns > hmax) hmax = ns;
}

/* This process's CPU seconds so far. */
static double cpu_s(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}
static void die(const char *what) {
  fprintf(stderr, "xsload: %s: %s\n", what, strerror(errno));
  exit(1);
}

struct conn {
  int fd;
  int step, attempt;
  uint32_t tx;
  long value;
  double sent, began;
  char in[8192];
  size_t have;
};

static const char *sock_path, *mode, *key, *root;
static char *shared[16], *dev[64];
static int nshared, ndev, nconn, base;
static double t0, t1; /* the window */
static long ops, attempts, eagain, events, writes, errors, commits_total;
/* Requests sent and not yet answered; after the window no new one is sent, and the run ends at 0. */
static long inflight;
static int stopping;

static int connect_one(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (fd < 0) die("socket");
  strncpy(a.sun_path, sock_path, sizeof a.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  return fd;
}

static void sendf(struct conn *c, uint32_t type, uint32_t tx, const char *a, const char *b, size_t blen) {
  char buf[4200];
  size_t alen = strlen(a) + 1, len = alen + (b == NULL ? 0 : blen);
  struct hdr h = {type, 0, tx, (uint32_t)len};
  memcpy(buf, &h, sizeof h);
  memcpy(buf + sizeof h, a, alen);
  if (b != NULL) memcpy(buf + sizeof h + alen, b, blen);
  if (write(c->fd, buf, sizeof h + len) != (ssize_t)(sizeof h + len)) die("write");
  c->sent = now_ns();
  inflight++;
}

static int in_window(double t) { return t >= t0 && t < t1; }

/* Values written so far: every WRITE stores a new value, as clients do (a
 * WRITE of the value a node already has changes nothing in tsxenstored's
 * tree and would measure less than a real write). */
static long writes_made;

static void write_new_value(struct conn *c, uint32_t tx, const char *path) {
  char val[32];
  sendf(c, WRITE, tx, path, val, (size_t)snprintf(val, sizeof val, "v%ld", ++writes_made));
}

/* The next request of a transaction client; step 0 is START. */
static void txn_next(struct conn *c, int i) {
  char path[256], val[32];
  if (stopping) return;
  if (c->step == 0) {
    sendf(c, START, 0, "", NULL, 0);
  } else if (!strcmp(mode, "counter")) {
    if (c->step == 1) sendf(c, READ, c->tx, key, NULL, 0);
    else if (c->step == 2) sendf(c, WRITE, c->tx, key, val, (size_t)snprintf(val, sizeof val, "%ld", c->value + 1));
    else sendf(c, END, c->tx, "T", NULL, 0);
  } else {
    int k = c->step - 1;
    if (k < nshared) sendf(c, READ, c->tx, shared[k], NULL, 0);
    else if (k < nshared + ndev) {
      snprintf(path, sizeof path, "/local/domain/%d/device/%s", base + i, dev[k - nshared]);
      write_new_value(c, c->tx, path);
    } else sendf(c, END, c->tx, "T", NULL, 0);
  }
}

static int txn_last_step(void) { return !strcmp(mode, "counter") ? 3 : nshared + ndev + 1; }

/* One reply for connection i: count it, send the client's next request. */
static void on_reply(struct conn *c, int i, const struct hdr *h, const char *p, double t) {
  if (!strcmp(mode, "wr")) {
    if (h->type == ERROR) errors++;
    if (in_window(t)) {
      ops++;
      record(t - c->sent);
    }
    if (stopping) return;
    char path[64];
    snprintf(path, sizeof path, "/bench/seq/c%d", i);
    c->step ^= 1;
    if (c->step) sendf(c, READ, 0, path, NULL, 0);
    else write_new_value(c, 0, path);
    return;
  }
  /* transactions */
  if (c->step == 0) {
    if (h->type == ERROR) die("TRANSACTION_START failed");
    c->tx = (uint32_t)strtoul(p, NULL, 10);
    if (c->attempt == 0) c->began = c->sent;
  } else if (c->step == txn_last_step()) {
    if (in_window(t)) attempts++;
    if (h->type == ERROR && !strcmp(p, "EAGAIN")) {
      if (in_window(t)) eagain++;
      c->attempt++;
      c->step = 0;
      txn_next(c, i);
      return;
    }
    if (h->type == ERROR) errors++;
    else commits_total++;
    if (in_window(t)) {
      ops++;
      record(t - c->began);
    }
    c->attempt = 0;
    c->step = 0;
    txn_next(c, i);
    return;
  } else if (h->type == ERROR) {
    errors++;
  } else if (!strcmp(mode, "counter") && c->step == 1) {
    c->value = strtol(p, NULL, 10);
  }
  c->step++;
  txn_next(c, i);
}

#define SLOTS 4096
static double sendtimes[SLOTS];

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: xsload SOCKET wr|counter|vmstart|watch N [...]\n");
    return 2;
  }
  sock_path = argv[1];
  mode = argv[2];
  nconn = atoi(argv[3]);
  int watch = !strcmp(mode, "watch");
  if (!strcmp(mode, "counter")) key = argv[4];
  if (!strcmp(mode, "vmstart")) {
    base = atoi(argv[4]);
    for (char *s = strtok(argv[5], ","); s != NULL && nshared < 16; s = strtok(NULL, ",")) shared[nshared++] = s;
    for (char *s = strtok(argv[6], ","); s != NULL && ndev < 64; s = strtok(NULL, ",")) dev[ndev++] = s;
  }
  if (watch) root = argv[4];
  int total = nconn + (watch ? 1 : 0);
  struct conn *cs = calloc((size_t)total, sizeof *cs);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < total; i++) {
    cs[i].fd = connect_one();
    if (watch && i < nconn) {
      char token[32];
      snprintf(token, sizeof token, "xsload%d", i);
      char buf[512];
      size_t rl = strlen(root) + 1, tl = strlen(token) + 1;
      struct hdr h = {WATCH, 0, 0, (uint32_t)(rl + tl)};
      memcpy(buf, &h, sizeof h);
      memcpy(buf + sizeof h, root, rl);
      memcpy(buf + sizeof h + rl, token, tl);
      if (write(cs[i].fd, buf, sizeof h + rl + tl) < 0) die("write");
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0) die("epoll_ctl");
  }
  printf("ready\n");
  fflush(stdout);
  double delay_ms, dur_ms;
  if (scanf(" go %lf %lf", &delay_ms, &dur_ms) != 2) return 2;
  double start = now_ns();
  t0 = start + delay_ms * 1e6;
  t1 = t0 + dur_ms * 1e6;
  long seq = 0;
  struct conn *writer = watch ? &cs[nconn] : NULL;
  if (watch) {
    char path[256];
    snprintf(path, sizeof path, "%s/k%ld", root, seq);
    sendf(writer, WRITE, 0, path, "x", 1);
    sendtimes[seq % SLOTS] = writer->sent;
  } else {
    for (int i = 0; i < nconn; i++) {
      if (!strcmp(mode, "wr")) {
        char path[64];
        snprintf(path, sizeof path, "/bench/seq/c%d", i);
        write_new_value(&cs[i], 0, path);
      } else txn_next(&cs[i], i);
    }
  }
  struct epoll_event evs[256];
  double cpu0 = -1, cpu1 = -1;
  size_t plen = root == NULL ? 0 : strlen(root) + 2; /* "ROOT/k" */
  while (inflight > 0) {
    int n = epoll_wait(ep, evs, 256, 1000);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    double t = now_ns();
    if (t >= t0 && cpu0 < 0) cpu0 = cpu_s();
    if (t >= t1 && !stopping) {
      stopping = 1;
      cpu1 = cpu_s();
    }
    if (t >= t1 + 30e9) {
      fprintf(stderr, "xsload: %ld replies still missing 30 s after the window\n", inflight);
      return 1;
    }
    for (int e = 0; e < n; e++) {
      int i = (int)evs[e].data.u32;
      struct conn *c = &cs[i];
      ssize_t got = read(c->fd, c->in + c->have, sizeof c->in - c->have);
      if (got <= 0) die("read (the daemon closed the connection)");
      c->have += (size_t)got;
      size_t off = 0;
      while (c->have - off >= sizeof(struct hdr)) {
        struct hdr h;
        memcpy(&h, c->in + off, sizeof h);
        if (h.len > 4096) die("reply too long");
        if (c->have - off < sizeof h + h.len) break;
        char p[4097];
        memcpy(p, c->in + off + sizeof h, h.len);
        p[h.len] = 0;
        off += sizeof h + h.len;
        if (watch && c != writer) {
          /* "ROOT/k<seq>\0token\0": the writer's writes only */
          if (h.type == EVENT && h.len > plen && !strncmp(p, root, plen - 2) && !strncmp(p + plen - 2, "/k", 2) && in_window(t)) {
            events++;
            double sent = sendtimes[strtol(p + plen, NULL, 10) % SLOTS];
            if (sent > 0 && t >= sent) record(t - sent);
          }
          continue;
        }
        inflight--;
        if (watch) {
          if (h.type == ERROR) errors++;
          if (in_window(t)) writes++;
          if (stopping) continue;
          char path[256];
          seq++;
          snprintf(path, sizeof path, "%s/k%ld", root, seq % SLOTS);
          sendf(writer, WRITE, 0, path, "x", 1);
          sendtimes[seq % SLOTS] = writer->sent;
          continue;
        }
        on_reply(c, i, &h, p, t);
      }
      memmove(c->in, c->in + off, c->have - off);
      c->have -= off;
    }
  }
  printf("{\"counters\":{\"ops\":%ld,\"attempts\":%ld,\"eagain\":%ld,\"events\":%ld,\"writes\":%ld,\"errors\":%ld,\"commitsTotal\":%ld,\"cpuUs\":%.0f},", ops, attempts, eagain, events, writes, errors, commits_total, cpu0 >= 0 && cpu1 >= 0 ? (cpu1 - cpu0) * 1e6 : 0);
  printf("\"hist\":{\"count\":%.0f,\"sumNs\":%.0f,\"minNs\":%.0f,\"maxNs\":%.0f,\"buckets\":[", hcount, hsum, hcount > 0 ? hmin : 0, hmax);
  int first = 1;
  for (int b = 0; b < BUCKETS; b++)
    if (hist[b] > 0) {
      printf("%s[%d,%.0f]", first ? "" : ",", b, hist[b]);
      first = 0;
    }
  printf("]}}\n");
  return 0;
}
