#ifndef CNETSHIM_H
#define CNETSHIM_H
// Linux-only helpers whose macros, unions or GNU-only declarations Swift cannot import cleanly.
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

// TUN/TAP: open /dev/net/tun (or `path`) and attach to interface `name` (may be empty).
// `tap` selects IFF_TAP, else IFF_TUN. IFF_NO_PI always. On success returns the fd and writes the
// kernel-chosen name into `outName` (IFNAMSIZ bytes); on failure returns -errno.
int cns_tun_open(const char *path, const char *name, int tap, int oneQueue, char *outName);
// Same, with IFF_VNET_HDR when `vnetHdr` (a 10-byte virtio_net_hdr precedes every frame).
int cns_tun_open_vnet(const char *path, const char *name, int tap, int oneQueue, int vnetHdr, char *outName);
/* The same with IFF_MULTI_QUEUE when multiQueue != 0: every call with the same name adds one queue (fd). */
int cns_tun_open_queue(const char *path, const char *name, int tap, int oneQueue, int vnetHdr, int multiQueue, char *outName);
// TUNSETOFFLOAD with TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6: the kernel may hand us 64 KB TCP super-frames.
int cns_tun_enable_tso(int fd);
// One frame written behind a header, without copying them together.
long cns_writev2(int fd, const void *a, size_t alen, const void *b, size_t blen);

// signalfd for the given signals (blocked in the calling thread first). Returns fd or -errno.
int cns_signalfd(const int *signals, int count);
// Reads one signal number from a signalfd, or -errno.
int cns_signalfd_read(int fd);
// Blocks all signals in the calling thread (worker threads: signals belong to the control loop).
void cns_block_all_signals(void);
// Unblocks all signals in the calling thread (for child processes before exec).
void cns_unblock_all_signals(void);

// Batched UDP I/O. `bufs` are `count` buffers of `bufSize` bytes each (one contiguous region).
// recv: fills lens[i] and addrs[i] (sockaddr_storage, addrLens[i]); returns packets or -errno.
int cns_recvmmsg(int fd, uint8_t *bufs, int bufSize, int count, int *lens,
                 struct sockaddr_storage *addrs, socklen_t *addrLens);
// send: each packet i = bufs + offsets[i], length lens[i], to addrs[i]; returns packets sent or -errno.
int cns_sendmmsg(int fd, const uint8_t *base, const int *offsets, const int *lens, int count,
                 const struct sockaddr_storage *addrs, const socklen_t *addrLens);

// UDP GSO (UDP_SEGMENT): 1 when the kernel knows the option on this socket.
int cns_udp_gso_supported(int fd);
// Like cns_sendmmsg, but runs of datagrams to one address with equal sizes (the last may be
// shorter) go as one GSO message. Returns datagrams sent or -errno. When the kernel refuses a GSO
// message that run is sent without GSO; `*gsoError` is set to the errno when GSO should be
// switched off for good (EIO: no checksum offload on the route's device), else 0.
int cns_sendmmsg_gso(int fd, const uint8_t *base, const int *offsets, const int *lens, int count,
                     const struct sockaddr_storage *addrs, const socklen_t *addrLens, int *gsoError);

// UDP GRO (UDP_GRO): the kernel may hand us several equal-size datagrams from one sender as one.
// Returns 0 or -errno (kernel without it).
int cns_udp_enable_gro(int fd);
// cns_recvmmsg that also reports the GRO segment size per message (0: a single datagram).
int cns_recvmmsg_gro(int fd, uint8_t *bufs, int bufSize, int count, int *lens,
                     struct sockaddr_storage *addrs, socklen_t *addrLens, int *segSizes);

// TCP MD5 signature (RFC 2385) for a peer address; key length 0 removes it. Returns 0 or -errno.
int cns_tcp_md5(int fd, const struct sockaddr_storage *peer, socklen_t peerLen, const uint8_t *key, int keyLen);

// Sets IP(V6)_MTU_DISCOVER to DO (set != 0) so oversized UDP fails with EMSGSIZE, as tinc's PMTU needs.
int cns_set_pmtudisc(int fd, int family, int doDiscover);

// accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC (GNU-only declaration).
int cns_accept(int fd, struct sockaddr *addr, socklen_t *len);


// Single-writer counters shared with readers on other threads (per-peer traffic, DataPlane/PeerCounters.swift):
// the owning worker adds with a relaxed load and store (no locked instruction: plain moves on x86-64),
// any thread reads with a relaxed load; chunk pointers are published with release and read with acquire.
static inline uint64_t cns_counter_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void cns_counter_store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void cns_counter_add(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
static inline uint64_t *cns_chunk_load(uint64_t *const *slot) { return __atomic_load_n(slot, __ATOMIC_ACQUIRE); }
static inline void cns_chunk_publish(uint64_t **slot, uint64_t *chunk) { __atomic_store_n(slot, chunk, __ATOMIC_RELEASE); }

// Scripts (posix_spawn, pidfd, reaping) and UNIX socket peer credentials.
#include "cns_process.h"

#endif
