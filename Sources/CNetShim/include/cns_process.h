#ifndef CNS_PROCESS_H
#define CNS_PROCESS_H
#include <sys/types.h>

// Starts `argv[0]` with posix_spawn: the child gets an empty signal mask, default dispositions for every
// signal and its own process group (so a timeout can signal the whole script). On success stores the pid
// and returns 0; otherwise returns the errno (ENOEXEC, EACCES, ENOENT ... from exec are reported here).
int cns_spawn(const char *path, char *const argv[], char *const envp[], pid_t *pid);

// pidfd_open(2): a descriptor that becomes readable when the process exits, or -errno (ENOSYS on old kernels).
int cns_pidfd_open(pid_t pid);

// waitpid(pid, WNOHANG) decoded: returns 1 and the status (exit code, or 128+signal) when the child is reaped,
// 0 when it is still running, -errno on error (ECHILD: not our child / already reaped).
int cns_reap(pid_t pid, int block, int *status);

// The peer's credentials of a connected UNIX socket (SO_PEERCRED). Returns 0 or -errno.
int cns_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

#endif
