/*
 * send_floor: what one channel message into 200 clients costs the kernel alone, with no
 * server at all: the floor under the low-rate latency scenario (5 x 100 msg/s into 200
 * clients) for any server that writes to each recipient's TCP socket on loopback.
 *
 *   gcc -O2 -pthread scripts/send_floor.c -o /tmp/send_floor && /tmp/send_floor [1|2]
 *
 * It opens 200 loopback TCP connections (TCP_NODELAY on the sending side, as IRC servers
 * set it), reads them all on a thread of its own with epoll (the "clients"), and 2,000
 * times, 2 ms apart, sends one 90-byte line to 199 of them, as a server relays a channel
 * message; it prints the median and 99th percentile of the time one round of sends takes.
 * Mode 1 sends in one thread; mode 2 hands half of the sockets to a second thread (to see
 * whether two cores halve the round: on the 2-core VM of docs/performance.md they do not).
 * The last recipient of a round cannot have its line before the round ends, so a server's
 * p99 latency in that scenario is at least about this round's time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS 200
#define ROUNDS 2000

static int sender_fd[CLIENTS], reader_fd[CLIENTS];
static char line[90];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go = PTHREAD_COND_INITIALIZER, finished = PTHREAD_COND_INITIALIZER;
static int job, done, job_lo, job_hi;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what) {
    perror(what);
    exit(1);
}

static void *reader(void *arg) {
    (void)arg;
    int ep = epoll_create1(0);
    if (ep < 0) fail("epoll_create1");
    for (int i = 0; i < CLIENTS; i++) {
        struct epoll_event e = {.events = EPOLLIN, .data.fd = reader_fd[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, reader_fd[i], &e) < 0) fail("epoll_ctl");
    }
    static char buf[65536];
    struct epoll_event ev[256];
    for (;;) {
        int n = epoll_wait(ep, ev, 256, -1);
        for (int i = 0; i < n; i++)
            while (read(ev[i].data.fd, buf, sizeof buf) > 0) {
            }
    }
    return NULL;
}

static void send_range(int lo, int hi) {
    for (int i = lo; i < hi; i++)
        if (send(sender_fd[i], line, sizeof line, MSG_DONTWAIT) != (ssize_t)sizeof line)
            fail("send");
}

static void *helper(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!job) pthread_cond_wait(&go, &mu);
        job = 0;
        int lo = job_lo, hi = job_hi;
        pthread_mutex_unlock(&mu);
        send_range(lo, hi);
        pthread_mutex_lock(&mu);
        done = 1;
        pthread_cond_signal(&finished);
    }
    return NULL;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int mode = argc > 1 ? atoi(argv[1]) : 1;
    if (mode != 1 && mode != 2) {
        fprintf(stderr, "usage: send_floor [1|2]\n");
        return 2;
    }
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\n';
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, (void *)&addr, sizeof addr) < 0 ||
        listen(listener, CLIENTS) < 0 || getsockname(listener, (void *)&addr, &len) < 0)
        fail("listen");
    int one = 1;
    for (int i = 0; i < CLIENTS; i++) {
        reader_fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (reader_fd[i] < 0 || connect(reader_fd[i], (void *)&addr, sizeof addr) < 0)
            fail("connect");
        sender_fd[i] = accept(listener, NULL, NULL);
        if (sender_fd[i] < 0) fail("accept");
        setsockopt(sender_fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(reader_fd[i], F_SETFL, O_NONBLOCK);
    }
    pthread_t r, h;
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&h, NULL, helper, NULL);
    static double took[ROUNDS];
    for (int k = 0; k < ROUNDS; k++) {
        double t0 = now();
        if (mode == 1) {
            send_range(1, CLIENTS);
        } else {
            pthread_mutex_lock(&mu);
            job_lo = CLIENTS / 2, job_hi = CLIENTS, job = 1, done = 0;
            pthread_cond_signal(&go);
            pthread_mutex_unlock(&mu);
            send_range(1, CLIENTS / 2);
            pthread_mutex_lock(&mu);
            while (!done) pthread_cond_wait(&finished, &mu);
            pthread_mutex_unlock(&mu);
        }
        took[k] = now() - t0;
        usleep(2000);
    }
    qsort(took, ROUNDS, sizeof took[0], by_value);
    printf("mode %d: %d sends a round: median %.0f us, p99 %.0f us\n", mode, CLIENTS - 1,
           took[ROUNDS / 2] * 1e6, took[ROUNDS * 99 / 100] * 1e6);
    return 0;
}
