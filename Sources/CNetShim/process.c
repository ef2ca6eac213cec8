#define _GNU_SOURCE
#include "cns_process.h"
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int cns_spawn(const char *path, char *const argv[], char *const envp[], pid_t *pid) {
    posix_spawnattr_t attr;
    int rc = posix_spawnattr_init(&attr);
    if (rc != 0) return rc;
    sigset_t none, all;
    sigemptyset(&none);
    // Every bit, not sigfillset: glibc's sigfillset leaves out its internal signals (32, 33), and its
    // posix_spawn sets those to SIG_IGN in the child, which exec would keep. With them in the set they
    // become SIG_DFL like after fork+exec.
    memset(&all, 0xff, sizeof all);
    // The daemon blocks its signals for signalfd and ignores SIGPIPE; a script must start with neither.
    rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    if (rc == 0) rc = posix_spawn(pid, path, NULL, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int cns_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
#else
    (void)pid;
    return -ENOSYS;
#endif
}

int cns_reap(pid_t pid, int block, int *status) {
    int st = 0;
    pid_t r;
    do { r = waitpid(pid, &st, block ? 0 : WNOHANG); } while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    if (r == 0) return 0;
    if (WIFEXITED(st)) *status = WEXITSTATUS(st);
    else if (WIFSIGNALED(st)) *status = 128 + WTERMSIG(st);
    else *status = -1;
    return 1;
}

int cns_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -errno;
    if (len != sizeof cred) return -EINVAL;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}
