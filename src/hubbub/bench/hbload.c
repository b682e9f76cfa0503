/*
 * hbload: the hot path of `hubbub bench`, a single-threaded epoll IRC load generator.
 *
 * Built at bench time by hubbub.bench.helper with the system C compiler. The Python driver
 * starts one or more of these, waits for "ready" on each one's stdout, writes "go" to their
 * stdins, and merges the "result" lines they print.
 *
 * Receive path: one recv() into a large buffer per readable socket, then memchr for each LF
 * and a 4-byte compare at a fixed offset from the line's end (the payload has a fixed length
 * and a magic prefix). No line is copied or parsed unless it is a sampled one. TCP_QUICKACK
 * after every read: servers that leave Nagle on would otherwise stall on delayed ACKs.
 *
 * Payload (--size bytes, >= 32): "hb1:" SSSSSS ":" TTTTTTTTTTTTTTTT ":" xxxx...
 *   S = sender id (6 hex digits), T = CLOCK_MONOTONIC send time in ns (16 hex digits).
 *
 * Closed loop: each sender has a tracker (a client of the same process that receives all its
 * messages); a sender keeps at most --window messages that its tracker has not yet seen.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MODE_FANOUT, MODE_PAIRS, MODE_CONNECTIONS };
enum { ST_IDLE, ST_CONNECTING, ST_REGISTERING, ST_JOINING, ST_READY, ST_CLOSED };
enum { PH_SETUP, PH_WAIT_GO, PH_RUN, PH_DRAIN, PH_DONE };

#define HEAD 1024           /* room before the read buffer for a carried partial line */
#define TAILMAX 1000        /* longest partial line carried between reads */
#define RBUF (256 * 1024)   /* one recv() reads at most this much */
#define MAXWIN 1024
#define MAXSIZE 400
#define HIST_LINEAR 128
#define HIST_SUB 64
#define HIST_BUCKETS (HIST_LINEAR + 48 * HIST_SUB)

typedef struct client {
    int fd;
    int state;
    int idx;               /* index in this process */
    int gidx;              /* global index: the nick's number */
    uint64_t recv;         /* payload lines received */
    int tail_len;
    char tail[TAILMAX];
    /* output */
    char *out;
    size_t out_len, out_off, out_cap;
    int want_out;
    /* sending */
    int is_sender;
    uint64_t sent, acked;
    char *tmpl;            /* one message line; the timestamp is patched in per batch */
    size_t tmpl_len, ts_off;
    double phase;
    /* receiving roles */
    int track;             /* index of the sender this client acknowledges for, or -1 */
    char track_sid[6];
    int sampler;
    uint64_t t_began;      /* when the current connection attempt started */
    int heard;             /* bytes have arrived on this connection */
    char nick[24];
} client_t;

/* options */
static int mode = MODE_FANOUT;
static const char *host = "127.0.0.1";
static int port = 6667;
static int nclients = 2, nsenders = 1, first = 0, window_ = 32, size = 64;
static double rate = 0.0, seconds = 5.0, warmup = 0.0, drain_max = 5.0, setup_max = 60.0;
static double quiet_s = 0.3, stall_s = 0.0;
static long long messages = 0;
static int connect_window = 100, sample_every = 1, server_pid = 0;
static const char *prefix = "hb";
static const char *channel = "#hbbench";

static client_t *clients;
static int epfd;
static char rstore[HEAD + RBUF];
static char *sbuf;
static uint64_t hist[HIST_BUCKETS];
static uint64_t lat_max_ns, lat_count;
static int phase = PH_SETUP;
static uint64_t now_ns, t_start, t_ready, t_go, t_warm, t_end, t_stop, last_rx;
static int in_window, go_pending;
static uint64_t recv_total, recv_at_warm, recv_at_end, sent_at_warm, sent_at_end;
static double cpu_at_warm, cpu_at_end, srv_at_warm = -1, srv_at_end = -1;
static double busy_at_warm = -1, busy_at_end = -1;
static int nready, nstarted, npending, ndisconnects, nerrors, nretries;
static char first_error[256];

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double server_cpu(void) {
    if (server_pid <= 0) return -1;
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds all processors spent running processes (user, nice, system; not interrupts
   or steal) since boot, from /proc/stat, or -1. */
static double machine_busy(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long user = 0, nice = 0, system = 0;
    int n = fscanf(f, "cpu %llu %llu %llu", &user, &nice, &system);
    fclose(f);
    if (n != 3) return -1;
    return (double)(user + nice + system) / (double)sysconf(_SC_CLK_TCK);
}

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "error ");
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    fflush(stdout);
    va_end(ap);
    exit(1);
}

static void note_error(const char *fmt, ...) {
    nerrors++;
    if (first_error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_error, sizeof first_error, fmt, ap);
    va_end(ap);
    for (char *p = first_error; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 32) *p = '?';
}

static int hist_index(uint64_t us) {
    if (us < HIST_LINEAR) return (int)us;
    int e = 63 - __builtin_clzll(us); /* e >= 7 */
    int sub = (int)((us >> (e - 6)) & (HIST_SUB - 1));
    int i = HIST_LINEAR + (e - 7) * HIST_SUB + sub;
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static uint64_t hist_value(int i) {
    if (i < HIST_LINEAR) return (uint64_t)i;
    int e = (i - HIST_LINEAR) / HIST_SUB + 7;
    int sub = (i - HIST_LINEAR) % HIST_SUB;
    return (uint64_t)(HIST_SUB + sub) << (e - 6);
}

static const char HEX[] = "0123456789abcdef";

static void put_hex(char *dst, uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--) {
        dst[i] = HEX[v & 15];
        v >>= 4;
    }
}

static uint64_t get_hex16(const char *s) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        unsigned d = (ch >= 'a') ? (unsigned)(ch - 'a' + 10) : (unsigned)(ch - '0');
        v = (v << 4) | (d & 15);
    }
    return v;
}

static void set_events(client_t *c, int want_out) {
    if (c->fd < 0 || c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want_out;
}

static void close_client(client_t *c, const char *why) {
    if (c->fd < 0) return;
    if (c->state == ST_READY || phase >= PH_WAIT_GO) ndisconnects++;
    note_error("client %s closed: %s", c->nick, why);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (c->state != ST_READY && c->state != ST_CLOSED) npending--;
    c->state = ST_CLOSED;
}

static void flush_out(client_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, 1);
            return;
        } else {
            close_client(c, n < 0 ? strerror(errno) : "send returned 0");
            return;
        }
    }
    c->out_off = c->out_len = 0;
    set_events(c, 0);
}

static void queue_out(client_t *c, const char *data, size_t len) {
    if (c->fd < 0) return;
    if (c->out_len + len > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + len > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 512;
            while (cap < c->out_len + len) cap *= 2;
            c->out = realloc(c->out, cap);
            if (!c->out) fail("out of memory");
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

static void send_text(client_t *c, const char *fmt, ...) {
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof line) n = sizeof line - 1;
    queue_out(c, line, (size_t)n);
    flush_out(c);
}

static void became_ready(client_t *c) {
    c->state = ST_READY;
    npending--;
    nready++;
}

/* The command word of a server line (after an optional :prefix), with its length. */
static const char *command_of(const char *p, const char *end, size_t *len) {
    if (p < end && *p == ':') {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        if (!sp) return NULL;
        p = sp + 1;
    }
    while (p < end && *p == ' ') p++;
    const char *q = p;
    while (q < end && *q != ' ') q++;
    *len = (size_t)(q - p);
    return p;
}

static int word_is(const char *w, size_t len, const char *lit) {
    return strlen(lit) == len && memcmp(w, lit, len) == 0;
}

static void other_line(client_t *c, const char *p, const char *end) {
    size_t len;
    const char *cmd = command_of(p, end, &len);
    if (!cmd) return;
    if (word_is(cmd, len, "PING")) {
        const char *arg = cmd + len;
        send_text(c, "PONG%.*s\r\n", (int)(end - arg), arg);
        return;
    }
    if (word_is(cmd, len, "ERROR")) {
        note_error("%s got %.*s", c->nick, (int)(end - p > 200 ? 200 : end - p), p);
        return;
    }
    if (c->state == ST_REGISTERING) {
        if (word_is(cmd, len, "001")) {
            if (mode == MODE_FANOUT) {
                c->state = ST_JOINING;
                send_text(c, "JOIN %s\r\n", channel);
            } else {
                became_ready(c);
            }
        } else if (word_is(cmd, len, "432") || word_is(cmd, len, "433") ||
                   word_is(cmd, len, "436") || word_is(cmd, len, "465")) {
            fail("registration of %s refused: %.*s", c->nick, (int)(end - p), p);
        }
    } else if (c->state == ST_JOINING) {
        if (word_is(cmd, len, "366")) {
            became_ready(c);
        } else if (word_is(cmd, len, "403") || word_is(cmd, len, "405") ||
                   word_is(cmd, len, "471") || word_is(cmd, len, "473") ||
                   word_is(cmd, len, "474") || word_is(cmd, len, "475")) {
            fail("join of %s refused: %.*s", c->nick, (int)(end - p), p);
        }
    }
}

static void process(client_t *c, char *p, char *end) {
    const size_t n = (size_t)size;
    char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        char *le = nl;
        if (le > p && le[-1] == '\r') le--;
        if ((size_t)(le - p) >= n && memcmp(le - n, "hb1:", 4) == 0) {
            const char *pl = le - n;
            c->recv++;
            if (c->track >= 0 && memcmp(pl + 4, c->track_sid, 6) == 0) clients[c->track].acked++;
            if (c->sampler && in_window) {
                uint64_t ts = get_hex16(pl + 11);
                uint64_t lat = now_ns > ts ? now_ns - ts : 0;
                if (lat > lat_max_ns) lat_max_ns = lat;
                hist[hist_index(lat / 1000)]++;
                lat_count++;
            }
        } else {
            other_line(c, p, le);
            if (c->fd < 0) return;
        }
        p = nl + 1;
    }
    size_t rest = (size_t)(end - p);
    if (rest > TAILMAX) rest = TAILMAX; /* a line this long is not ours; it is dropped */
    memcpy(c->tail, p, rest);
    c->tail_len = (int)rest;
}

static void on_readable(client_t *c) {
    for (int iter = 0; iter < 4 && c->fd >= 0; iter++) {
        char *base = rstore + HEAD;
        ssize_t n = recv(c->fd, base, RBUF, 0);
        if (n > 0) {
            static const int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
            now_ns = mono_ns();
            last_rx = now_ns;
            c->heard = 1;
            char *start = base - c->tail_len;
            memcpy(start, c->tail, (size_t)c->tail_len);
            uint64_t before = c->recv;
            process(c, start, base + n);
            recv_total += c->recv - before;
            if (n < RBUF) break;
        } else if (n == 0) {
            close_client(c, "connection closed by server");
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else {
            close_client(c, strerror(errno));
        }
    }
}

static struct sockaddr_storage addr;
static socklen_t addrlen;

/* Local addresses to connect from, round robin (--sources): one address reaches a server port
   from at most as many ports as the ephemeral range has (about 28,000). */
#define MAXSOURCES 64
static struct sockaddr_storage sources[MAXSOURCES];
static socklen_t source_lens[MAXSOURCES];
static int nsources;
static const char *sources_arg = "";

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static void parse_sources(void) {
    char *list = strdup(sources_arg), *save = NULL;
    if (!list) fail("out of memory");
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!*tok) continue;
        if (nsources == MAXSOURCES) fail("at most %d --sources", MAXSOURCES);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *res;
        int rc = getaddrinfo(tok, "0", &hints, &res);
        if (rc != 0) fail("bad source address %s: %s", tok, gai_strerror(rc));
        if (res->ai_family != addr.ss_family)
            fail("source address %s is not of the server address's family", tok);
        memcpy(&sources[nsources], res->ai_addr, res->ai_addrlen);
        source_lens[nsources++] = res->ai_addrlen;
        freeaddrinfo(res);
    }
    free(list);
}

static void resolve(void) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0) fail("cannot resolve %s: %s", host, gai_strerror(rc));
    memcpy(&addr, res->ai_addr, res->ai_addrlen);
    addrlen = res->ai_addrlen;
    freeaddrinfo(res);
}

static void start_connect(client_t *c) {
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        fail("socket: %s (this process may open %llu files; spread the clients over more "
             "processes, --procs)", strerror(errno), (unsigned long long)rl.rlim_cur);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nsources) {
        int k = c->idx % nsources;
        /* the port is chosen at connect(), for this destination only */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sources[k], source_lens[k]) < 0)
            fail("bind to a source address: %s", strerror(errno));
    }
    c->fd = fd;
    c->state = ST_CONNECTING;
    c->want_out = 1;
    c->heard = 0;
    c->tail_len = 0;
    c->out_off = c->out_len = 0;
    c->t_began = now_ns;
    npending++;
    nstarted++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&addr, addrlen) < 0 && errno != EINPROGRESS) {
        if (errno == EADDRNOTAVAIL)
            fail("connect to %s:%d: %s (no local port left: spread the clients over more "
                 "--sources)", host, port, strerror(errno));
        fail("connect to %s:%d: %s", host, port, strerror(errno));
    }
}

static uint64_t sec_ns(double s) { return (uint64_t)(s * 1e9); }

/* A connection that has heard nothing for stall_s is most likely stuck behind a full accept
   queue (ngircd listens with a backlog of 10): start it again. */
static void retry_stalled(void) {
    uint64_t limit = sec_ns(stall_s);
    for (int i = 0; i < nclients; i++) {
        client_t *c = &clients[i];
        if ((c->state == ST_CONNECTING || c->state == ST_REGISTERING) && !c->heard &&
            now_ns - c->t_began > limit) {
            epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            npending--;
            nstarted--;
            nretries++;
            start_connect(c);
        }
    }
}

static void on_connected(client_t *c) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) fail("connect to %s:%d: %s", host, port, strerror(err));
    c->state = ST_REGISTERING;
    set_events(c, 0);
    send_text(c, "NICK %s\r\nUSER hb 0 * :hubbub bench\r\n", c->nick);
}

static void sender_fill(client_t *c) {
    if (c->fd < 0 || c->out_off < c->out_len) return;
    uint64_t inflight = c->sent - c->acked;
    if (inflight >= (uint64_t)window_) return;
    uint64_t k = (uint64_t)window_ - inflight;
    if (messages > 0) {
        if (c->sent >= (uint64_t)messages) return;
        if (c->sent + k > (uint64_t)messages) k = (uint64_t)messages - c->sent;
    }
    if (rate > 0) {
        double due = rate * (double)(now_ns - t_go) / 1e9 + c->phase;
        uint64_t d = due > 0 ? (uint64_t)due : 0;
        if (d <= c->sent) return;
        if (d - c->sent < k) k = d - c->sent;
    }
    uint64_t ts = mono_ns();
    char *w = sbuf;
    for (uint64_t i = 0; i < k; i++) {
        memcpy(w, c->tmpl, c->tmpl_len);
        put_hex(w + c->ts_off, ts, 16);
        w += c->tmpl_len;
    }
    size_t len = (size_t)(w - sbuf);
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(c->fd, sbuf + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            queue_out(c, sbuf + done, len - done);
            set_events(c, 1);
            break;
        } else {
            close_client(c, n < 0 ? strerror(errno) : "send returned 0");
            return;
        }
    }
    c->sent += k;
}

static void make_template(client_t *c, const char *target) {
    char head[128];
    int hl = snprintf(head, sizeof head, "PRIVMSG %s :", target);
    c->tmpl_len = (size_t)hl + (size_t)size + 2;
    c->tmpl = malloc(c->tmpl_len);
    if (!c->tmpl) fail("out of memory");
    memcpy(c->tmpl, head, (size_t)hl);
    char *pl = c->tmpl + hl;
    memset(pl, 'x', (size_t)size);
    memcpy(pl, "hb1:", 4);
    put_hex(pl + 4, (uint64_t)c->gidx, 6);
    pl[10] = ':';
    put_hex(pl + 11, 0, 16);
    pl[27] = ':';
    c->ts_off = (size_t)hl + 11;
    memcpy(pl + size, "\r\n", 2);
}

static void usage(void) {
    fprintf(stderr,
            "usage: hbload --mode fanout|pairs|connections [--host H] [--port P] [--clients N]\n"
            "  [--senders S] [--first K] [--window W] [--rate R] [--size B] [--seconds T]\n"
            "  [--warmup T] [--messages M] [--drain T] [--quiet T] [--setup-timeout T]\n"
            "  [--connect-window N] [--stall T] [--sample-every K] [--pid PID] [--prefix P] [--channel C]\n"
            "  [--sources ADDR,ADDR,...]\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    static struct option opts[] = {
        {"mode", 1, 0, 'm'},     {"host", 1, 0, 'h'},         {"port", 1, 0, 'p'},
        {"clients", 1, 0, 'c'},  {"senders", 1, 0, 's'},      {"first", 1, 0, 'f'},
        {"window", 1, 0, 'w'},   {"rate", 1, 0, 'r'},         {"size", 1, 0, 'b'},
        {"seconds", 1, 0, 't'},  {"warmup", 1, 0, 'u'},       {"messages", 1, 0, 'n'},
        {"drain", 1, 0, 'd'},    {"quiet", 1, 0, 'q'},        {"setup-timeout", 1, 0, 'T'},
        {"connect-window", 1, 0, 'W'}, {"stall", 1, 0, 'S'}, {"sample-every", 1, 0, 'e'}, {"pid", 1, 0, 'P'},
        {"prefix", 1, 0, 'x'},   {"channel", 1, 0, 'C'},      {"sources", 1, 0, 'A'},
        {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'm':
            if (!strcmp(optarg, "fanout")) mode = MODE_FANOUT;
            else if (!strcmp(optarg, "pairs")) mode = MODE_PAIRS;
            else if (!strcmp(optarg, "connections")) mode = MODE_CONNECTIONS;
            else usage();
            break;
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nclients = atoi(optarg); break;
        case 's': nsenders = atoi(optarg); break;
        case 'f': first = atoi(optarg); break;
        case 'w': window_ = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'b': size = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'u': warmup = atof(optarg); break;
        case 'n': messages = atoll(optarg); break;
        case 'd': drain_max = atof(optarg); break;
        case 'q': quiet_s = atof(optarg); break;
        case 'T': setup_max = atof(optarg); break;
        case 'W': connect_window = atoi(optarg); break;
        case 'S': stall_s = atof(optarg); break;
        case 'e': sample_every = atoi(optarg); break;
        case 'P': server_pid = atoi(optarg); break;
        case 'x': prefix = optarg; break;
        case 'C': channel = optarg; break;
        case 'A': sources_arg = optarg; break;
        default: usage();
        }
    }
    if (nclients < 1 || window_ < 1 || window_ > MAXWIN || size < 32 || size > MAXSIZE ||
        connect_window < 1 || sample_every < 1 || strlen(prefix) > 8)
        usage();
    if (mode == MODE_PAIRS && nclients % 2) fail("pairs needs an even number of clients");
    if (mode == MODE_FANOUT && (nsenders < 0 || nsenders > nclients)) usage();
    if (mode == MODE_FANOUT && nsenders > 0 && nclients < 2)
        fail("a sender needs another client in its process to track it");
    if (mode == MODE_CONNECTIONS) nsenders = 0;
    if (mode == MODE_PAIRS) nsenders = nclients;
}

static void setup_roles(void) {
    for (int i = 0; i < nclients; i++) {
        client_t *c = &clients[i];
        c->fd = -1;
        c->idx = i;
        c->gidx = first + i;
        c->track = -1;
        snprintf(c->nick, sizeof c->nick, "%s%d", prefix, c->gidx);
        c->sampler = (c->gidx % sample_every) == 0;
    }
    for (int i = 0; i < nsenders; i++) {
        client_t *c = &clients[i];
        c->is_sender = 1;
        c->phase = (double)i / (double)nsenders;
        int t;
        if (mode == MODE_PAIRS) {
            t = i ^ 1;
            make_template(c, clients[t].nick);
        } else {
            t = (i + 1) % nclients;
            make_template(c, channel);
        }
        clients[t].track = i;
        put_hex(clients[t].track_sid, (uint64_t)c->gidx, 6);
        clients[t].sampler = 1; /* trackers always sample latency */
    }
}

static void print_result(void) {
    double window_s;
    if (messages > 0) {
        window_s = (double)((t_stop ? t_stop : now_ns) - t_go) / 1e9;
    } else {
        window_s = (double)(t_end - t_warm) / 1e9;
    }
    uint64_t sent_total = 0, min_recv = UINT64_MAX, max_recv = 0;
    for (int i = 0; i < nclients; i++) {
        sent_total += clients[i].sent;
        if (clients[i].recv < min_recv) min_recv = clients[i].recv;
        if (clients[i].recv > max_recv) max_recv = clients[i].recv;
    }
    printf("result {\"mode\": %d, \"clients\": %d, \"senders\": %d, \"ready\": %d, "
           "\"register_s\": %.6f, \"window_s\": %.6f, \"delivered_window\": %llu, "
           "\"delivered_total\": %llu, \"sent_window\": %llu, \"sent_total\": %llu, "
           "\"min_client_recv\": %llu, \"max_client_recv\": %llu, "
           "\"gen_cpu_s\": %.6f, \"server_cpu_s\": %.6f, \"machine_busy_s\": %.6f, \"disconnects\": %d, \"errors\": %d, "
           "\"retries\": %d, \"first_error\": \"%s\", \"lat_count\": %llu, \"lat_max_us\": %.3f, \"hist\": [",
           mode, nclients, nsenders, nready, (double)(t_ready - t_start) / 1e9, window_s,
           (unsigned long long)(recv_at_end - recv_at_warm), (unsigned long long)recv_total,
           (unsigned long long)(sent_at_end - sent_at_warm), (unsigned long long)sent_total,
           (unsigned long long)min_recv, (unsigned long long)max_recv, cpu_at_end - cpu_at_warm,
           (srv_at_warm >= 0 && srv_at_end >= 0) ? srv_at_end - srv_at_warm : -1.0,
           (busy_at_warm >= 0 && busy_at_end >= 0) ? busy_at_end - busy_at_warm : -1.0,
           ndisconnects, nerrors, nretries, first_error, (unsigned long long)lat_count,
           (double)lat_max_ns / 1000.0);
    int firstb = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        if (!hist[i]) continue;
        printf("%s[%llu, %llu]", firstb ? "" : ", ", (unsigned long long)hist_value(i),
               (unsigned long long)hist[i]);
        firstb = 0;
    }
    printf("]}\n");
    fflush(stdout);
}

static uint64_t total_sent(void) {
    uint64_t s = 0;
    for (int i = 0; i < nsenders; i++) s += clients[i].sent;
    return s;
}

static int all_acked(void) {
    for (int i = 0; i < nsenders; i++) {
        client_t *c = &clients[i];
        if (c->fd >= 0 && clients[(mode == MODE_PAIRS) ? (i ^ 1) : (i + 1) % nclients].fd >= 0 &&
            c->acked < c->sent)
            return 0;
    }
    return 1;
}

static int all_sent(void) {
    if (messages <= 0) return 0;
    for (int i = 0; i < nsenders; i++)
        if (clients[i].fd >= 0 && clients[i].sent < (uint64_t)messages) return 0;
    return 1;
}

static void mark_window_start(void) {
    t_warm = now_ns;
    recv_at_warm = recv_total;
    sent_at_warm = total_sent();
    cpu_at_warm = self_cpu();
    srv_at_warm = server_cpu();
    busy_at_warm = machine_busy();
    in_window = 1;
}

static void mark_window_end(void) {
    recv_at_end = recv_total;
    sent_at_end = total_sent();
    cpu_at_end = self_cpu();
    srv_at_end = server_cpu();
    busy_at_end = machine_busy();
    in_window = 0;
}

static void start_run(void) {
    now_ns = mono_ns();
    t_go = now_ns;
    phase = PH_RUN;
    if (messages > 0) {
        t_end = t_go + sec_ns(seconds); /* an upper bound only */
        mark_window_start();
    } else {
        t_end = t_go + sec_ns(warmup) + sec_ns(seconds);
        if (warmup <= 0) mark_window_start();
    }
}

static void on_stdin(void) {
    char buf[256];
    ssize_t n = read(0, buf, sizeof buf - 1);
    if (n <= 0) {
        /* the driver went away: stop */
        exit(3);
    }
    buf[n] = 0;
    if (strstr(buf, "go")) go_pending = 1;
    if (strstr(buf, "quit")) exit(0);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    parse_args(argc, argv);
    resolve();
    parse_sources();
    clients = calloc((size_t)nclients, sizeof(client_t));
    sbuf = malloc((size_t)MAXWIN * (MAXSIZE + 128));
    if (!clients || !sbuf) fail("out of memory");
    setup_roles();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &sev);

    struct epoll_event evs[1024];
    now_ns = t_start = mono_ns();
    int next_connect = 0;
    uint64_t next_stall_check = t_start + sec_ns(0.1);
    uint64_t setup_deadline = t_start + sec_ns(setup_max);
    uint64_t drain_deadline = 0;

    while (phase != PH_DONE) {
        now_ns = mono_ns();
        if (phase == PH_SETUP) {
            while (next_connect < nclients && npending < connect_window)
                start_connect(&clients[next_connect++]);
            if (stall_s > 0 && now_ns >= next_stall_check) {
                retry_stalled();
                next_stall_check = now_ns + sec_ns(0.1);
            }
            if (nready == nclients) {
                t_ready = now_ns;
                phase = PH_WAIT_GO;
                printf("ready {\"clients\": %d, \"register_s\": %.6f, \"retries\": %d}\n",
                       nclients, (double)(t_ready - t_start) / 1e9, nretries);
                fflush(stdout);
            } else if (next_connect == nclients && npending == 0) {
                fail("only %d of %d clients registered: %s", nready, nclients, first_error);
            } else if (now_ns > setup_deadline) {
                int st[6] = {0};
                for (int i = 0; i < nclients; i++) st[clients[i].state]++;
                fail("setup timed out: %d of %d clients registered after %.0f s (not started %d, "
                     "connecting %d, registering %d, joining %d, closed %d)%s%s",
                     nready, nclients, setup_max, st[ST_IDLE], st[ST_CONNECTING],
                     st[ST_REGISTERING], st[ST_JOINING], st[ST_CLOSED],
                     first_error[0] ? "; " : "", first_error);
            }
        }
        if (phase == PH_WAIT_GO && go_pending) start_run();
        if (phase == PH_RUN) {
            if (!in_window && t_warm == 0 && now_ns >= t_go + sec_ns(warmup)) mark_window_start();
            int stop = now_ns >= t_end || all_sent();
            if (stop) {
                if (in_window) mark_window_end();
                t_stop = now_ns;
                phase = PH_DRAIN;
                drain_deadline = now_ns + sec_ns(drain_max);
                if (last_rx < now_ns) last_rx = now_ns;
            } else if (mode != MODE_CONNECTIONS) {
                for (int i = 0; i < nsenders; i++) sender_fill(&clients[i]);
            }
        }
        if (phase == PH_DRAIN) {
            int settled = all_acked() && now_ns - last_rx >= sec_ns(quiet_s);
            if (settled || now_ns >= drain_deadline || mode == MODE_CONNECTIONS) {
                print_result();
                phase = PH_DONE;
                break;
            }
        }

        int timeout = 10;
        if (phase == PH_RUN && rate > 0) timeout = 1;
        int n = epoll_wait(epfd, evs, 1024, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            client_t *c = evs[i].data.ptr;
            if (!c) {
                on_stdin();
                continue;
            }
            if (c->fd < 0) continue;
            uint32_t e = evs[i].events;
            if (c->state == ST_CONNECTING) {
                if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
                continue;
            }
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
            if (c->fd >= 0 && (e & EPOLLOUT)) flush_out(c);
        }
    }
    /* Keep the connections open until the driver has looked at the server (its RSS) and says
       "quit", or goes away, or 60 s pass. */
    for (;;) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        if (poll(&pfd, 1, 60000) <= 0) break;
        char b[256];
        ssize_t n = read(0, b, sizeof b);
        if (n <= 0 || memmem(b, (size_t)n, "quit", 4)) break;
    }
    return 0;
}
