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
    int fd = open(path && *path ? path : "/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = (tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
#ifdef IFF_ONE_QUEUE
    if (oneQueue) ifr.ifr_flags |= IFF_ONE_QUEUE;
#endif
    if (vnetHdr) ifr.ifr_flags |= IFF_VNET_HDR;
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

int cns_recvmmsg(int fd, uint8_t *bufs, int bufSize, int count, int *lens,
                 struct sockaddr_storage *addrs, socklen_t *addrLens) {
    struct mmsghdr msgs[CNS_MAXBATCH];
    struct iovec iov[CNS_MAXBATCH];
    if (count > CNS_MAXBATCH) count = CNS_MAXBATCH;
    for (int i = 0; i < count; i++) {
        iov[i].iov_base = bufs + (size_t)i * bufSize;
        iov[i].iov_len = bufSize;
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
    }
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
