/*
 * bare_relay: the baseline of `hubbub bench`, the least work a server can do for the
 * generator's scenarios. One thread, level-triggered epoll, no IRC beyond what the generator
 * needs: NICK/USER get a 001, JOIN puts the client in the one channel and gets a 366,
 * PRIVMSG to a "#..." target goes to every other member, PRIVMSG to a nick goes to that nick,
 * PING gets a PONG. Every outgoing line is appended to the recipient's buffer; buffers are
 * written once per loop iteration. Its throughput bounds what the generator can measure.
 *
 * usage: bare_relay [--host H] [--port P]   (port 0 picks one; "port N" is printed)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF (64 * 1024)
#define MAXLINE 1024
#define SENDQ_MAX (64u * 1024 * 1024)
#define NICKHASH 65536

typedef struct conn {
    int fd;
    int registered, in_channel, dirty, want_out;
    char nick[32];
    size_t nick_len;
    char *in;              /* a partial line, allocated only while there is one */
    size_t in_len;
    char *out;
    size_t out_len, out_off, out_cap;
    struct conn *hnext;
    int member_pos;
} conn_t;

static int epfd;
static conn_t **members;
static int nmembers, members_cap;
static conn_t *nicks[NICKHASH];
static conn_t **dirty;
static int ndirty, dirty_cap;

static unsigned nick_hash(const char *s, size_t n) {
    unsigned h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h & (NICKHASH - 1);
}

static conn_t *nick_find(const char *s, size_t n) {
    for (conn_t *c = nicks[nick_hash(s, n)]; c; c = c->hnext)
        if (c->nick_len == n && memcmp(c->nick, s, n) == 0) return c;
    return NULL;
}

static void nick_remove(conn_t *c) {
    if (!c->nick_len) return;
    conn_t **pp = &nicks[nick_hash(c->nick, c->nick_len)];
    while (*pp && *pp != c) pp = &(*pp)->hnext;
    if (*pp) *pp = c->hnext;
    c->nick_len = 0;
}

static void mark_dirty(conn_t *c) {
    if (c->dirty) return;
    if (ndirty == dirty_cap) {
        dirty_cap = dirty_cap ? dirty_cap * 2 : 256;
        dirty = realloc(dirty, (size_t)dirty_cap * sizeof *dirty);
    }
    dirty[ndirty++] = c;
    c->dirty = 1;
}

static void drop(conn_t *c);

static void append(conn_t *c, const char *a, size_t al, const char *b, size_t bl) {
    if (c->fd < 0) return;
    size_t len = al + bl;
    if (c->out_len + len > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + len > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 16384;
            while (cap < c->out_len + len) cap *= 2;
            if (cap > SENDQ_MAX) {
                drop(c);
                return;
            }
            c->out = realloc(c->out, cap);
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, a, al);
    memcpy(c->out + c->out_len + al, b, bl);
    c->out_len += len;
    mark_dirty(c);
}

static void set_out(conn_t *c, int on) {
    if (c->want_out == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static void flush(conn_t *c) {
    while (c->fd >= 0 && c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out(c, 1);
            return;
        } else {
            drop(c);
            return;
        }
    }
    if (c->fd >= 0) {
        /* an idle connection holds no buffer */
        free(c->out);
        c->out = NULL;
        c->out_off = c->out_len = c->out_cap = 0;
        set_out(c, 0);
    }
}

static void drop(conn_t *c) {
    if (c->fd < 0) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    nick_remove(c);
    if (c->in_channel) {
        conn_t *last = members[--nmembers];
        members[c->member_pos] = last;
        last->member_pos = c->member_pos;
        c->in_channel = 0;
    }
    /* freed at the end of the loop iteration, when no event of this batch can refer to it */
    mark_dirty(c);
}

static void reply(conn_t *c, const char *s) { append(c, s, strlen(s), "", 0); }

static void welcome(conn_t *c) {
    char line[128];
    snprintf(line, sizeof line, ":bare 001 %.*s :welcome\r\n", (int)c->nick_len, c->nick);
    reply(c, line);
    c->registered = 1;
}

/* One line without its CR LF. */
static void handle_line(conn_t *c, char *p, size_t len) {
    char *end = p + len;
    char *sp = memchr(p, ' ', len);
    size_t cl = sp ? (size_t)(sp - p) : len;
    char *arg = sp ? sp + 1 : end;
    if (cl == 7 && memcmp(p, "PRIVMSG", 7) == 0 && c->registered) {
        char *tsp = memchr(arg, ' ', (size_t)(end - arg));
        if (!tsp) return;
        char prefix[64];
        int pl = snprintf(prefix, sizeof prefix, ":%.*s!b@h ", (int)c->nick_len, c->nick);
        /* The whole outgoing line: prefix + "PRIVMSG target :text" + CR LF. */
        char line[MAXLINE + 80];
        size_t body = len;
        if (body + (size_t)pl + 2 > sizeof line) return;
        memcpy(line, prefix, (size_t)pl);
        memcpy(line + pl, p, body);
        memcpy(line + pl + body, "\r\n", 2);
        size_t ll = (size_t)pl + body + 2;
        if (*arg == '#') {
            for (int i = 0; i < nmembers; i++)
                if (members[i] != c) append(members[i], line, ll, "", 0);
        } else {
            conn_t *t = nick_find(arg, (size_t)(tsp - arg));
            if (t) append(t, line, ll, "", 0);
        }
    } else if (cl == 4 && memcmp(p, "NICK", 4) == 0) {
        size_t nl = (size_t)(end - arg);
        if (nl == 0 || nl >= sizeof c->nick) return;
        if (nick_find(arg, nl)) {
            reply(c, ":bare 433 * nick :in use\r\n");
            return;
        }
        nick_remove(c);
        memcpy(c->nick, arg, nl);
        c->nick_len = nl;
        unsigned h = nick_hash(arg, nl);
        c->hnext = nicks[h];
        nicks[h] = c;
    } else if (cl == 4 && memcmp(p, "USER", 4) == 0) {
        if (c->nick_len && !c->registered) welcome(c);
    } else if (cl == 4 && memcmp(p, "JOIN", 4) == 0 && c->registered) {
        if (!c->in_channel) {
            if (nmembers == members_cap) {
                members_cap = members_cap ? members_cap * 2 : 256;
                members = realloc(members, (size_t)members_cap * sizeof *members);
            }
            c->member_pos = nmembers;
            members[nmembers++] = c;
            c->in_channel = 1;
        }
        char line[160];
        snprintf(line, sizeof line, ":bare 366 %.*s %.*s :End of /NAMES list.\r\n",
                 (int)c->nick_len, c->nick, (int)(end - arg > 60 ? 60 : end - arg), arg);
        reply(c, line);
    } else if (cl == 4 && memcmp(p, "PING", 4) == 0) {
        append(c, ":bare PONG bare ", 16, arg, (size_t)(end - arg));
        append(c, "\r\n", 2, "", 0);
    } else if (cl == 4 && memcmp(p, "QUIT", 4) == 0) {
        drop(c);
    }
}

static char rbuf[RBUF];

static void on_read(conn_t *c) {
    ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(c);
        return;
    }
    if (n < 0) return;
    char *p = rbuf, *end = rbuf + n;
    while (p < end && c->fd >= 0) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t take = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (c->in_len == 0 && nl) {
            size_t l = take;
            if (l && p[l - 1] == '\r') l--;
            handle_line(c, p, l);
        } else if (c->in_len + take > MAXLINE) {
            c->in_len = 0; /* too long: dropped */
        } else {
            if (!c->in) c->in = malloc(MAXLINE);
            memcpy(c->in + c->in_len, p, take);
            c->in_len += take;
            if (nl) {
                size_t l = c->in_len;
                if (l && c->in[l - 1] == '\r') l--;
                c->in_len = 0;
                handle_line(c, c->in, l);
            }
        }
        if (c->fd >= 0 && c->in_len == 0 && c->in) {
            free(c->in);
            c->in = NULL;
        }
        p = nl ? nl + 1 : end;
    }
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0;
    static struct option opts[] = {{"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'h') host = optarg;
        else if (o == 'p') port = atoi(optarg);
        else return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "bare_relay: bad IPv4 address %s\n", host);
        return 2;
    }
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4096) < 0) {
        perror("bare_relay: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    printf("port %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &lev);
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(epfd, evs, 512, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c) {
                for (int k = 0; k < 256; k++) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn_t *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (c->fd < 0) continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_read(c);
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT)) flush(c);
        }
        for (int i = 0; i < ndirty; i++) {
            conn_t *c = dirty[i];
            c->dirty = 0;
            if (c->fd >= 0) {
                if (!c->want_out) flush(c);
            } else {
                free(c->out);
                free(c->in);
                free(c);
            }
        }
        ndirty = 0;
    }
}
