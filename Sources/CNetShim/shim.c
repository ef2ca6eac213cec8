#define _GNU_SOURCE
#include "CNetShim.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/tcp.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>

int cns_tun_open(const char *path, const char *name, int tap, int oneQueue, char *outName) {
    return cns_tun_open_vnet(path, name, tap, oneQueue, 0, outName);
}

int cns_tun_enable_tso(int fd) {
    int sz = 10;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) return -errno;
    unsigned int f = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    return ioctl(fd, TUNSETOFFLOAD, f) < 0 ? -errno : 0;
}

long cns_writev2(int fd, const void *a, size_t alen, const void *b, size_t blen) {
    struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
    return writev(fd, iov, 2);
}

int cns_tun_open_vnet(const char *path, const char *name, int tap, int oneQueue, int vnetHdr, char *outName) {
    return cns_tun_open_queue(path, name, tap, oneQueue, vnetHdr, 0, outName);
}

int cns_tun_open_queue(const char *path, const char *name, int tap, int oneQueue, int vnetHdr, int multiQueue, char *outName) {
    int fd = open(path && *path ? path : "/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = (tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
#ifdef IFF_ONE_QUEUE
    if (oneQueue) ifr.ifr_flags |= IFF_ONE_QUEUE;
#endif
    if (vnetHdr) ifr.ifr_flags |= IFF_VNET_HDR;
#ifdef IFF_MULTI_QUEUE
    if (multiQueue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
#else
    if (multiQueue) { close(fd); return -EINVAL; }
#endif
    if (name && *name) strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { int e = errno; close(fd); return -e; }
    memcpy(outName, ifr.ifr_name, IFNAMSIZ);
    outName[IFNAMSIZ - 1] = 0;
    return fd;
}

int cns_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -errno;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cns_signalfd_read(int fd) {
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof si);
    if (n != (ssize_t)sizeof si) return n < 0 ? -errno : -EIO;
    return (int)si.ssi_signo;
}

void cns_block_all_signals(void) {
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void cns_unblock_all_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
}

#define CNS_MAXBATCH 256

// One receive slot per datagram: buffer i of bufSize bytes and address slot i (count <= CNS_MAXBATCH).
static void cns_prepare_recv(struct mmsghdr *msgs, struct iovec *iov, uint8_t *bufs, int bufSize, int count,
                             struct sockaddr_storage *addrs) {
    for (int i = 0; i < count; i++) {
        iov[i].iov_base = bufs + (size_t)i * bufSize;
        iov[i].iov_len = bufSize;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
    }
}

int cns_recvmmsg(int fd, uint8_t *bufs, int bufSize, int count, int *lens,
                 struct sockaddr_storage *addrs, socklen_t *addrLens) {
    struct mmsghdr msgs[CNS_MAXBATCH];
    struct iovec iov[CNS_MAXBATCH];
    if (count > CNS_MAXBATCH) count = CNS_MAXBATCH;
    cns_prepare_recv(msgs, iov, bufs, bufSize, count, addrs);
    int n = recvmmsg(fd, msgs, count, MSG_DONTWAIT, NULL);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        // A datagram larger than the buffer is truncated: report it as oversized so it is dropped, not misparsed.
        lens[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int)msgs[i].msg_len;
        addrLens[i] = msgs[i].msg_hdr.msg_namelen;
    }
    return n;
}

int cns_sendmmsg(int fd, const uint8_t *base, const int *offsets, const int *lens, int count,
                 const struct sockaddr_storage *addrs, const socklen_t *addrLens) {
    struct mmsghdr msgs[CNS_MAXBATCH];
    struct iovec iov[CNS_MAXBATCH];
    if (count > CNS_MAXBATCH) count = CNS_MAXBATCH;
    for (int i = 0; i < count; i++) {
        iov[i].iov_base = (void *)(base + offsets[i]);
        iov[i].iov_len = lens[i];
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = (void *)&addrs[i];
        msgs[i].msg_hdr.msg_namelen = addrLens[i];
    }
    int n = sendmmsg(fd, msgs, count, MSG_DONTWAIT);
    return n < 0 ? -errno : n;
}

// UDP GSO: at most this many segments and bytes per GSO send (the kernel's UDP_MAX_SEGMENTS was
// 64 before Linux 6.x raised it; 64 KiB is the IP datagram limit).
#define CNS_GSO_MAX_SEGS 64
#define CNS_GSO_MAX_BYTES 65000

int cns_udp_gso_supported(int fd) {
    int v = 0;
    socklen_t l = sizeof v;
    return getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &l) == 0 ? 1 : 0;
}

static int same_addr(const struct sockaddr_storage *a, socklen_t al, const struct sockaddr_storage *b, socklen_t bl) {
    return al == bl && memcmp(a, b, al) == 0;
}

int cns_sendmmsg_gso(int fd, const uint8_t *base, const int *offsets, const int *lens, int count,
                     const struct sockaddr_storage *addrs, const socklen_t *addrLens, int *gsoError) {
    struct mmsghdr msgs[CNS_MAXBATCH];
    struct iovec iov[CNS_MAXBATCH];
    int first[CNS_MAXBATCH], npk[CNS_MAXBATCH];
    union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } ctl[CNS_MAXBATCH];
    if (count > CNS_MAXBATCH) count = CNS_MAXBATCH;
    *gsoError = 0;
    int m = 0, i = 0;
    while (i < count) {
        // A run to one address: equal sizes, the last may be shorter (the kernel's GSO rule).
        int seg = lens[i], j = i + 1, bytes = lens[i];
        while (j < count && j - i < CNS_GSO_MAX_SEGS && lens[j - 1] == seg && lens[j] <= seg &&
               bytes + lens[j] <= CNS_GSO_MAX_BYTES && same_addr(&addrs[i], addrLens[i], &addrs[j], addrLens[j])) {
            bytes += lens[j];
            j++;
        }
        memset(&msgs[m], 0, sizeof msgs[m]);
        for (int k = i; k < j; k++) {
            iov[k].iov_base = (void *)(base + offsets[k]);
            iov[k].iov_len = (size_t)lens[k];
        }
        msgs[m].msg_hdr.msg_iov = &iov[i];
        msgs[m].msg_hdr.msg_iovlen = (size_t)(j - i);
        msgs[m].msg_hdr.msg_name = (void *)&addrs[i];
        msgs[m].msg_hdr.msg_namelen = addrLens[i];
        if (j - i > 1) {
            memset(&ctl[m], 0, sizeof ctl[m]);
            msgs[m].msg_hdr.msg_control = ctl[m].buf;
            msgs[m].msg_hdr.msg_controllen = sizeof ctl[m].buf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[m].msg_hdr);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t s16 = (uint16_t)seg;
            memcpy(CMSG_DATA(c), &s16, sizeof s16);
        }
        first[m] = i;
        npk[m] = j - i;
        m++;
        i = j;
    }
    int n = sendmmsg(fd, msgs, (unsigned)m, MSG_DONTWAIT);
    if (n > 0) {
        int sent = 0;
        for (int k = 0; k < n; k++) sent += npk[k];
        return sent;
    }
    int e = n < 0 ? errno : EAGAIN;
    if (npk[0] > 1 && (e == EIO || e == EINVAL || e == EMSGSIZE || e == ENOPROTOOPT || e == EOPNOTSUPP)) {
        // The GSO message itself was refused: EIO means the route's device cannot checksum
        // segments (GSO is then off for good); EMSGSIZE/EINVAL come from a segment over the
        // path MTU. Send that run one datagram at a time so each packet gets its own answer.
        if (e != EMSGSIZE && e != EINVAL) *gsoError = e;
        return cns_sendmmsg(fd, base, offsets + first[0], lens + first[0], npk[0], addrs + first[0], addrLens + first[0]);
    }
    return -e;
}

int cns_udp_enable_gro(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0 ? 0 : -errno;
}

int cns_recvmmsg_gro(int fd, uint8_t *bufs, int bufSize, int count, int *lens,
                     struct sockaddr_storage *addrs, socklen_t *addrLens, int *segSizes) {
    struct mmsghdr msgs[CNS_MAXBATCH];
    struct iovec iov[CNS_MAXBATCH];
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl[CNS_MAXBATCH];
    if (count > CNS_MAXBATCH) count = CNS_MAXBATCH;
    cns_prepare_recv(msgs, iov, bufs, bufSize, count, addrs);
    for (int i = 0; i < count; i++) {
        msgs[i].msg_hdr.msg_control = ctl[i].buf;
        msgs[i].msg_hdr.msg_controllen = sizeof ctl[i].buf;
    }
    int n = recvmmsg(fd, msgs, count, MSG_DONTWAIT, NULL);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) {
        lens[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int)msgs[i].msg_len;
        addrLens[i] = msgs[i].msg_hdr.msg_namelen;
        segSizes[i] = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int g;
                memcpy(&g, CMSG_DATA(c), sizeof g);
                segSizes[i] = g > 0 ? g : 0;
            }
        }
    }
    return n;
}

int cns_tcp_md5(int fd, const struct sockaddr_storage *peer, socklen_t peerLen, const uint8_t *key, int keyLen) {
    struct tcp_md5sig sig;
    memset(&sig, 0, sizeof sig);
    if (keyLen > TCP_MD5SIG_MAXKEYLEN) return -EINVAL;
    memcpy(&sig.tcpm_addr, peer, peerLen < sizeof sig.tcpm_addr ? peerLen : sizeof sig.tcpm_addr);
    sig.tcpm_keylen = (uint16_t)keyLen;
    if (keyLen) memcpy(sig.tcpm_key, key, keyLen);
    return setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) < 0 ? -errno : 0;
}

int cns_set_pmtudisc(int fd, int family, int doDiscover) {
    int r;
    if (family == AF_INET6) {
        int v = doDiscover ? IPV6_PMTUDISC_DO : IPV6_PMTUDISC_DONT;
        r = setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof v);
    } else {
        int v = doDiscover ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT;
        r = setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
    }
    return r < 0 ? -errno : 0;
}

int cns_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
